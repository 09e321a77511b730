"""The slice viewer of the HTML reports (tinynet.mri.viewer, in report.render_html and in
`tinynet predict --html`), in a real headless Chromium driven by selenium: the page loads
without console errors and fetches nothing; the slider and the arrow keys change the slice
shown and its caption; captions are shown as written, whatever they hold.  Skipped without
chromium, chromedriver or selenium, a failure where $TINYNET_REQUIRE_BROWSER is 1 (CI: .ci/run
installs them)."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from commandhelpers import write_png
from optional_deps import chromium_or_skip
from tinynet.mri import report, viewer, viz
from tinynet.mri.commands import predict
from tinynet.mri.data import read_kaggle3m

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:          # the tests that need selenium skip (or fail) in chromium_or_skip
    ActionChains = By = Keys = None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the module (a fresh profile folder), quit at the end."""
    driver = chromium_or_skip(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def evaluation_page(folder, tiny_models, tmp_path):
    """The evaluation report of the 3-patient kaggle_3m ``folder``, saved as an HTML file."""
    evaluation = report.evaluate(read_kaggle3m(folder), *tiny_models)
    path = tmp_path / "report.html"
    report.save_html(evaluation, path)
    return path, evaluation


def open_page(browser, path):
    """Load ``path`` and return the console's errors (there should be none)."""
    browser.get_log("browser")                     # empty the log of any earlier page
    browser.get(path.as_uri())
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def by_css(element, selector):
    return element.find_element(By.CSS_SELECTOR, selector)


def viewers(browser):
    return browser.find_elements(By.CSS_SELECTOR, ".viewer")


def frames_of(figure):
    """[[image URI, caption], ...]: the slices of a viewer (its <figure>), as the page holds
    them."""
    return json.loads(by_css(figure, ".viewer-frames").get_attribute("textContent"))


def shown(figure):
    """(slider position, image URI shown, caption shown) of a viewer."""
    return (int(by_css(figure, ".viewer-slider").get_attribute("value")),
            by_css(figure, ".viewer-image").get_attribute("src"),
            by_css(figure, ".viewer-caption").text)


def assert_shows(figure, k):
    """The viewer shows its slice k: slider, picture and caption."""
    frames = frames_of(figure)
    assert shown(figure) == (k, frames[k][0], frames[k][1])


def test_the_page_loads_without_errors_and_fetches_nothing(browser, evaluation_page):
    path, evaluation = evaluation_page
    assert open_page(browser, path) == []
    # self-contained: every src/href is a data: URI, and the browser fetched no resource
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('[src], [href]'), "
        "e => e.getAttribute('src') || e.getAttribute('href'))")
    assert links and all(link.startswith("data:") for link in links)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    # one viewer per patient, each with every slice of its patient
    dataset = evaluation.dataset
    assert len(viewers(browser)) == len(dataset.patients)
    for figure, pid in zip(viewers(browser), dataset.patients):
        frames = frames_of(figure)
        assert len(frames) == len(dataset.indices_of([pid]))
        assert by_css(figure, "h3").text.startswith(pid)
        assert frames[0][1].startswith("slice 1 (1 of 4): truth ")


def test_the_slider_and_the_arrow_keys_change_the_slice_and_its_caption(browser,
                                                                       evaluation_page):
    assert open_page(browser, evaluation_page[0]) == []
    figure = viewers(browser)[1]
    slider = by_css(figure, ".viewer-slider")
    start = shown(figure)[0]
    assert_shows(figure, start)                     # the script ran: frame `start` is shown

    # the mouse: a click at the slider's left end moves it to the first slice
    ActionChains(browser).move_to_element_with_offset(
        slider, -slider.size["width"] // 2 + 2, 0).click().perform()
    assert_shows(figure, 0)
    # the keyboard on the slider: the next slices, and the captions with them
    slider.send_keys(Keys.ARROW_RIGHT)
    assert_shows(figure, 1)
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert_shows(figure, 3)
    assert len({frame[1] for frame in frames_of(figure)}) == len(frames_of(figure))
    # the arrow keys on the picture (the viewer has the focus), clamped at the ends
    by_css(figure, ".viewer-image").click()
    ActionChains(browser).send_keys(Keys.ARROW_LEFT).perform()
    assert_shows(figure, 2)
    ActionChains(browser).send_keys(*[Keys.ARROW_RIGHT] * 6).perform()
    assert_shows(figure, 3)
    # the other viewers did not move
    for other in viewers(browser)[:1] + viewers(browser)[2:]:
        frames = frames_of(other)
        assert shown(other)[1:] == tuple(frames[shown(other)[0]])
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_prediction_page_of_tinynet_predict(browser, tmp_path, checkpoints):
    """predict --html on a folder of slices: a viewer per folder, the prediction outlined."""
    for n in range(1, 4):
        write_png(tmp_path / "in" / "patient_a" / f"a_{n}.png", seed=n)
    write_png(tmp_path / "in" / "patient_b" / "b_1.png")
    page = tmp_path / "out" / "report.html"
    assert predict.main([str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                         "--segmenter", checkpoints[1], "--html", str(page)]) == 0
    assert open_page(browser, page) == []
    first, second = viewers(browser)
    assert len(frames_of(first)) == 3 and len(frames_of(second)) == 1
    by_css(first, ".viewer-image").click()
    ActionChains(browser).send_keys(Keys.ARROW_LEFT * 3).perform()   # to the first slice
    assert_shows(first, 0)
    assert shown(first)[2].startswith("a_1: tumour probability")
    ActionChains(browser).send_keys(Keys.ARROW_UP).perform()
    assert_shows(first, 1)


def test_captions_are_text_whatever_they_hold(browser, tmp_path, rng):
    """A caption with "</script>", "<!--" and "&" neither ends the frames' data nor turns
    into markup: it is shown as written."""
    captions = ["</script><!-- a & b <b>bold</b>", "second \"slice\" 'quoted'"]
    frames = [viewer.viewer_frame(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), caption)
              for caption in captions]
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
                    f"{viewer.VIEWER_STYLE}</style></head><body>"
                    f"{viewer.slice_viewer(frames, 'title </h3> & more', start=1)}"
                    f"<script>{viewer.VIEWER_SCRIPT}</script></body></html>")
    assert open_page(browser, page) == []
    (only,) = viewers(browser)
    assert_shows(only, 1)
    assert shown(only)[2] == captions[1] and by_css(only, "h3").text == "title </h3> & more"
    by_css(only, ".viewer-slider").send_keys(Keys.ARROW_LEFT)
    assert shown(only)[2] == captions[0]


def test_slice_viewer_arguments():
    frame = ["data:image/jpeg;base64,", "a slice"]
    with pytest.raises(ValueError, match="has no frames"):
        viewer.slice_viewer([], "patient")
    with pytest.raises(ValueError, match=r"start must be in \[0, 1\), got 1"):
        viewer.slice_viewer([frame], "patient", start=1)
    assert viewer.busiest_slice([0, 5, 9, 2]) == 2 and viewer.busiest_slice([0, 0, 0, 0]) == 2


def test_a_frame_is_the_outlined_slice_as_jpeg():
    """viewer_frame: the slice with the prediction outlined, enlarged to 256 px, as a JPEG
    data URI that decodes to it (up to JPEG's small losses)."""
    image = np.full((32, 32, 3), 60, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 1
    uri, caption = viewer.viewer_frame(image, "slice 1", pred_mask=mask)
    assert caption == "slice 1" and uri.startswith("data:image/jpeg;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    expected = viewer.enlarged(viz.overlay(image, mask))
    assert decoded.shape == expected.shape == (256, 256, 3)
    assert np.abs(decoded.astype(int) - expected).mean() < 3
    assert decoded[8 * 8 + 3, 128, 0] > 200 and decoded[128, 128, 0] < 80   # red outline
