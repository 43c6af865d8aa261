"""The workbench as a person uses it: a real JupyterLab 4 (and Notebook 7) server, a real Chromium driven by Playwright.

Each test starts the server on 127.0.0.1 with fresh config, settings, workspace and runtime dirs, copies the showcase
notebook into a temporary root (autosave never touches the repository), opens it, runs it, moves the strength slider
with the keyboard and then with the mouse, changes the scale dropdown, and asserts after each move that the edited text
and the plotly figure changed and that the browser console has no errors. The server is stopped by its PID.

Screenshots go to $MSMA_SCREENSHOTS (default: the test's tmp dir); figures/workbench-*.png were made with
`MSMA_SCREENSHOTS=figures python -m pytest tests/test_browser.py`.

Chromium comes from Debian (`bash tools/setup.sh --dev` installs it; never `playwright install`).
"""
import os, shutil, signal, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "msma-browser-test"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
UPSTREAM_NB7 = {"Cannot read properties of undefined (reading 'schema')"}
# a first model load and generation on two CPU cores: minutes, not seconds
LONG = 180_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@contextmanager
def jupyter(app: str, root: Path, tmp: Path):
    "A Jupyter server (`lab` or `notebook`) on a free port with everything of its own under `tmp`; stopped by its PID"
    port, log = _free_port(), open(tmp / f"{app}.log", "w")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               IPYTHONDIR=str(tmp / "ipython"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--expose-app-in-browser",
           "--ServerApp.open_browser=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if app == "lab":                                    # no "get news?" toast over the screenshots (Notebook 7 has no such plugin)
        news = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if p.poll() is not None: raise RuntimeError(f"jupyter {app} exited: {(tmp / f'{app}.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2); break
            except OSError: time.sleep(0.5)
        else: raise RuntimeError(f"jupyter {app} did not answer in 60 s: {(tmp / f'{app}.log').read_text()[-3000:]}")
        yield url
    finally:
        try: os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: p.wait(15)
        except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait()
        log.close()


@contextmanager
def chromium(tmp: Path):
    from playwright.sync_api import sync_playwright
    exe = shutil.which("chromium")
    assert exe, "no chromium on PATH: `bash tools/setup.sh --dev` installs Debian's (apt-get install -y chromium)"
    with sync_playwright() as pw:
        b = pw.chromium.launch_persistent_context(str(tmp / "chromium-profile"), executable_path=exe, args=FLAGS,
                                                  headless=True, viewport={"width": 1400, "height": 1500})
        try: yield b
        finally: b.close()


def _shots() -> Path | None:
    d = os.environ.get("MSMA_SCREENSHOTS", "").strip()
    return Path(d) if d else None


def _state(page) -> dict:
    "The edited text, the status line and the norm plot's edited trace as the browser shows them"
    return page.evaluate("""() => {
        const q = s => document.querySelector(s);
        const plot = q('.msma-norms .js-plotly-plot');
        return {edited: q('.msma-edited') ? q('.msma-edited').innerText : '',
                status: q('.msma-status') ? q('.msma-status').innerText : '',
                norms: plot && plot.data ? Array.from(plot.data[1].y || []) : null,
                map: (q('.msma-map .js-plotly-plot') || {}).data ? Array.from(q('.msma-map .js-plotly-plot').data[2].x || []) : null};
    }""")


def _settled(page, before: dict | None = None, timeout: int = LONG) -> dict:
    "Wait until an update has finished (status says so) and, if `before` is given, the edited text and the plot differ from it"
    page.wait_for_function("""(b) => {
        const q = s => document.querySelector(s);
        const st = q('.msma-status'), ed = q('.msma-edited'), plot = q('.msma-norms .js-plotly-plot');
        if (!st || !ed || !plot || !plot.data) return false;
        const s = st.innerText;
        if (!(s.includes('tokens in') || s.includes('strength 0'))) return false;
        if (s.includes('generating')) return false;
        if (!b) return true;
        return ed.innerText !== b.edited && JSON.stringify(Array.from(plot.data[1].y || [])) !== JSON.stringify(b.norms);
    }""", arg=before, timeout=timeout, polling=250)
    return _state(page)


@pytest.mark.slow
@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_workbench_in_a_browser(app, tmp_path):
    root = tmp_path / "root"; root.mkdir()
    shutil.copy(ROOT / "nbs" / "20a_showcase.ipynb", root / "showcase.ipynb")
    shots = _shots() or tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with jupyter(app, root, tmp_path) as url, chromium(tmp_path) as browser:
        page, errors = browser.new_page(), []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        path = "lab/tree" if app == "lab" else "notebooks"
        page.goto(f"{url}/{path}/showcase.ipynb?token={TOKEN}")
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=120_000)
        page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;      // the kernel is up and idle
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle'; }""", timeout=120_000)
        page.wait_for_timeout(1000)
        on_load = errors[:]; errors.clear()
        # Notebook 7.6.5 on JupyterLab 4.6.6 throws this while loading its own settings, with an empty notebook and with
        # anywidget, the widgets manager and plotly's extension all disabled (checked): upstream, before any code of ours
        assert not [e for e in on_load if not (app == "notebook" and e in UPSTREAM_NB7)], on_load
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        request = {"page": page, "path": shots / f"workbench-{app}-failed.png"}   # what the page showed, if a step fails
        try: page.wait_for_selector(".msma-strength .noUi-handle", timeout=LONG)
        except Exception: page.screenshot(path=str(request["path"]), full_page=True); raise
        s0 = _settled(page)
        assert "tokens in" in s0["status"] and s0["edited"].strip() and s0["norms"], s0
        page.locator(".msma-edited").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"workbench-{app}-before.png"), full_page=True)

        # the keyboard: in JupyterLab, focus the slider's handle and step it up ten times (+0.5); Notebook 7's command-mode
        # key handling swallows arrow keys before they reach a slider (defaultPrevented at the document), so there the
        # value is typed into the slider's readout instead
        handle = page.locator(".msma-strength .noUi-handle").first
        if app == "lab":
            handle.click()
            for _ in range(10): page.keyboard.press("ArrowRight")
        else:
            page.locator(".msma-strength .widget-readout").click()
            page.keyboard.press("Control+A"); page.keyboard.type("1.5"); page.keyboard.press("Enter")
        s1 = _settled(page, s0)
        assert s1["edited"] != s0["edited"] and s1["norms"] != s0["norms"], (s0, s1)

        # the mouse: drag the handle towards the left end
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down(); page.mouse.move(box["x"] - 120, box["y"] + box["height"] / 2, steps=12); page.mouse.up()
        s2 = _settled(page, s1)
        assert s2["edited"] != s1["edited"], (s1, s2)
        page.locator(".msma-edited").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"workbench-{app}-after.png"), full_page=True)

        # the scale dropdown: the local band
        page.select_option(".msma-scale select", "local")
        s3 = _settled(page, s2)
        assert s3["map"] != s2["map"] and s3["status"] != s2["status"], (s2["status"], s3["status"])   # another band, another map
        assert not errors, errors
