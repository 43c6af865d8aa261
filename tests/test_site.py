"""The documentation as a reader sees it: every chapter rendered to static HTML offline (tools/docs_site.py, from the notebooks
nbdev-proc-nbs processed into _proc/) and opened in Chromium. Each page must load with no console error, draw every
plotly figure it stores, show every image, and carry no error output. Also: the site builder refuses a live widget with
no static fallback, and applies the docs' cell directives.
"""
import importlib.util, json
from pathlib import Path

import nbformat
import pytest

from test_browser import chromium

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("msma_site", ROOT / "tools" / "docs_site.py")
msma_site = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(msma_site)


def test_directives_and_widgets(tmp_path):
    nb = nbformat.v4.new_notebook()
    fig = {"data": [{"type": "scatter", "y": [1, 2]}], "layout": {}}
    nb.cells = [nbformat.v4.new_markdown_cell("# T"),
                nbformat.v4.new_code_cell("#| hide\nsecret = 1"),
                nbformat.v4.new_code_cell("#| output: false\nshown()", outputs=[nbformat.v4.new_output("stream", text="gone")]),
                nbformat.v4.new_code_cell("f", outputs=[nbformat.v4.new_output("display_data", data={
                    "application/vnd.plotly.v1+json": fig, "text/html": "<script src='https://cdn'></script>"})])]
    out, counts = msma_site.prepare(nb, "t.ipynb")
    assert [c.source for c in out.cells] == ["# T", "shown()", "f"] and out.cells[1].outputs == []
    assert counts == dict(plots=1, images=0, errors=0) and "cdn" not in json.dumps(out.cells[2].outputs)
    live = nbformat.v4.new_notebook()
    live.cells = [nbformat.v4.new_code_cell("wb", outputs=[nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "VBox()"})])]
    with pytest.raises(SystemExit, match="no static fallback"): msma_site.prepare(live, "w.ipynb")


@pytest.mark.slow
def test_every_page_renders(tmp_path):
    src = ROOT / "_proc"
    if not (src / "index.ipynb").exists(): pytest.fail("no _proc/: run nbdev-proc-nbs first (tools/test.sh does)")
    out = tmp_path / "site"
    pages = msma_site.build(src, out)
    assert len(pages) >= 20 and sum(p["plots"] + p["images"] for p in pages) >= 20, pages    # stored figures are PNGs, or plotly
    assert any(p["page"] == "20_workbench.html" and p["plots"] + p["images"] >= 1 for p in pages)   # the snapshot, not an empty box
    with chromium(tmp_path) as browser:
        page, problems = browser.new_page(), []
        for p in pages:
            errors = []
            page.on("console", h := (lambda m: errors.append(m.text) if m.type == "error" else None))
            page.on("pageerror", e := (lambda x: errors.append(str(x))))
            page.goto((out / p["page"]).as_uri())
            page.wait_for_load_state("load")
            if p["plots"]:
                page.wait_for_function("n => document.querySelectorAll('.msma-plot .main-svg').length >= n", arg=p["plots"],
                                       timeout=60_000)
            seen = page.evaluate("""() => ({
                plots: document.querySelectorAll('.msma-plot.js-plotly-plot').length,
                images: Array.from(document.images).filter(i => i.src.startsWith('data:')).length,
                broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
                tracebacks: Array.from(document.querySelectorAll('.jp-OutputArea-output')).filter(o => /Traceback|Error:/.test(o.innerText) && o.querySelector('[data-mime-type="application/vnd.jupyter.stderr"], .ansi-red-fg')).length})""")
            page.remove_listener("console", h); page.remove_listener("pageerror", e)
            if (seen["plots"] != p["plots"] or seen["images"] < p["images"] or seen["broken"] or seen["tracebacks"] or p["errors"]
                    or errors):
                problems.append((p["page"], p, seen, errors[:3]))
    assert not problems, problems
