"""Optional test dependencies: skipped where they are missing, failures where CI requires them.

Two of the application's features need software that tinynet does not install by default,
and their tests follow the rule of the PyTorch-parity tests (``TINYNET_REQUIRE_TORCH``):

* NIfTI reading and writing needs nibabel (``pip install tinynet[nifti]``):
  ``nibabel_or_skip()``; ``$TINYNET_REQUIRE_NIFTI=1`` turns a missing nibabel into a failure.
* The HTML reports' slice viewer is tested in a real headless browser: Debian's
  ``chromium`` and ``chromium-driver`` driven by selenium (``pip install tinynet[browser]``):
  ``chromium_or_skip(profile)``; ``$TINYNET_REQUIRE_BROWSER=1`` turns a missing piece into a
  failure.

Each variable names what it requires, so a machine with nibabel but no browser can
require the one and not the other; .ci/run installs both and sets both.
"""
import os
import shutil

import pytest

REQUIRE_NIFTI_VARIABLE = "TINYNET_REQUIRE_NIFTI"
REQUIRE_BROWSER_VARIABLE = "TINYNET_REQUIRE_BROWSER"

#: Chromium's flags for a test: no window, no sandbox (CI runs as root in a container), and
#: nothing that reaches for the network (this project's machines have none).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1200,1400")


def skip_or_fail(variable, reason):
    """Skip the test for ``reason``, or fail it where ``$variable`` is 1 (CI)."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"${variable}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def nibabel_or_skip():
    """nibabel, the NIfTI library of the ``nifti`` extra (see the module docstring)."""
    try:
        import nibabel
    except ImportError:
        skip_or_fail(REQUIRE_NIFTI_VARIABLE, "nibabel is not installed (pip install "
                                             "'tinynet[nifti]')")
    return nibabel


def chromium_or_skip(profile):
    """A selenium WebDriver on a fresh headless Chromium whose profile is the folder
    ``profile``; the caller quits it.  The browser's console log is kept
    (``driver.get_log("browser")``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail(REQUIRE_BROWSER_VARIABLE, "selenium is not installed (pip install "
                                               "'tinynet[browser]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        skip_or_fail(REQUIRE_BROWSER_VARIABLE, "chromium and chromedriver are needed (Debian: "
                                               "apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver: Selenium Manager would otherwise try to download one.
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
