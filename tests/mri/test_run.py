"""tinynet.mri.run: resume_config, what --resume keeps of a saved run and which flags it
reports ignored.  The training runs themselves (interrupted, resumed, stopped on a NaN loss)
are tested end to end in test_train_scripts.py."""
import numpy as np

from tinynet.io import save_checkpoint


def test_resume_of_a_run_older_than_a_flag_reports_the_flag_ignored(tmp_path):
    """--resume of a last.npz saved before --width/--intensity existed says it ignores them."""
    from tinynet.mri.run import resume_config
    old_config = {"epochs": 2, "lr": 0.001, "out": str(tmp_path)}      # no width, no intensity
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"w": np.zeros(1, np.float32)},
                    metadata={"run": {"config": old_config}, "model": {"task": "classification"}})
    config, ignored, task = resume_config(path, {"width": 32, "intensity": "slice", "epochs": 4})
    assert task == "classification" and config["epochs"] == 4
    assert "width" not in config and "intensity" not in config
    assert sorted(ignored) == [
        "intensity='slice' (the run was saved before this setting existed)",
        "width=32 (the run was saved before this setting existed)"]
