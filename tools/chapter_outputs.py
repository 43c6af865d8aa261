"""Run chapter notebooks and store the outputs that teach: small tables, text, and every plotly figure as a PNG.

    python tools/chapter_outputs.py                       # every chapter in nbs/
    python tools/chapter_outputs.py nbs/05_scales.ipynb   # only these

Each notebook runs top to bottom in its own folder (as nbdev-test runs it, `#| slow` cells included; `#| notest`,
`#| cuda` and `#| eval: false` cells are skipped and keep no output), with one thread (OMP_NUM_THREADS=1) so that
the numbers are those the tests see. What is stored:

* plotly figures as a static PNG (headless Chromium, the plotly.js that plotly ships): GitHub, the docs site and
  a reader without a kernel all see the picture; the live figure comes back when the cell is run;
* tables and markdown up to `MAX_RICH` characters, plain text up to `MAX_TEXT`, stdout up to `MAX_TEXT`;
* never stderr (progress bars, warnings): it changes from run to run and teaches nothing.

A cell that raises stops the run and leaves the notebook unchanged. Then nbdev-clean normalises the notebook and the
sizes are printed (each must stay under 1 MB). Needs `chromium` on PATH (Debian's package; not a dependency).
"""
import base64, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_RICH, MAX_TEXT, MAX_NB = 30_000, 3_000, 1_000_000
SKIP = ("#| notest", "#| cuda", "#| eval: false", "#|eval: false")
SETUP = "import plotly.io as _pio; _pio.renderers.default = 'plotly_mimetype'"   # figures come out as plotly JSON


def screenshot(html: Path, png: Path, width: int, height: int):
    "PNG of a local HTML page at width × height, by headless Chromium"
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={width},{height}", "--force-device-scale-factor=1", "--virtual-time-budget=5000",
                        f"--screenshot={png}", f"file://{html}"], capture_output=True, text=True, timeout=120)
    if not png.exists(): raise RuntimeError(f"chromium made no screenshot of {html}: {r.stderr[-500:]}")


def figure_png(spec: dict, tmp: Path, plotly_js: Path) -> str:
    "Base64 PNG of one plotly figure spec (data, layout)"
    lay = spec.get("layout", {})
    W, H = int(lay.get("width") or 900), int(lay.get("height") or 450)
    page = tmp/"fig.html"
    page.write_text(f'<html><head><meta charset="utf-8"><script src="{plotly_js}"></script></head>'
                    f'<body style="margin:0"><div id="f" style="width:{W}px;height:{H}px"></div><script>'
                    f'Plotly.newPlot("f", {json.dumps(spec.get("data", []))}, {json.dumps(lay | dict(width=W, height=H))},'
                    f' {{"staticPlot": true}});</script></body></html>')
    png = tmp/"fig.png"
    png.unlink(missing_ok=True)
    screenshot(page, png, W, H)
    return base64.b64encode(png.read_bytes()).decode()


def keep(out: dict, tmp: Path, plotly_js: Path) -> dict | None:
    "The part of one cell output worth storing, or None"
    if out.get("output_type") == "stream":
        text = "".join(out.get("text", ""))
        return out if out.get("name") == "stdout" and len(text) <= MAX_TEXT else None
    if out.get("output_type") not in ("execute_result", "display_data"): return out
    data, kept = out.get("data", {}), {}
    if (spec := data.get("application/vnd.plotly.v1+json")) is not None:
        title = spec.get("layout", {}).get("title", {})
        kept["image/png"] = figure_png(spec, tmp, plotly_js)
        kept["text/plain"] = f"<plotly figure{': ' + title.get('text', '') if isinstance(title, dict) else ''}>"
    else:
        for mime in ("text/html", "text/markdown", "image/png", "image/svg+xml"):
            v = data.get(mime)
            if v is not None and (mime == "image/png" or len("".join(v)) <= MAX_RICH): kept[mime] = v
        plain = "".join(data.get("text/plain", ""))
        if plain and len(plain) <= MAX_TEXT: kept["text/plain"] = data["text/plain"]
        elif kept: kept["text/plain"] = plain[:200] + " …"
    if not kept: return None
    return {k: v for k, v in out.items() if k != "data"} | {"data": kept}


def run_notebook(path: Path, plotly_js: Path):
    "Execute `path` in its folder and store the kept outputs; raises (and writes nothing) if a cell fails"
    from fastcore.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    nb, cwd = read_nb(path), os.getcwd()
    skip = lambda cell: cell.cell_type == "code" and any(line.strip().startswith(SKIP) for line in cell.source.splitlines()[:5])
    os.chdir(path.parent)
    try:
        shell = CaptureShell()
        shell.run(SETUP)
        shell.run_all(nb, exc_stop=True, preproc=skip)
    finally: os.chdir(cwd)
    with tempfile.TemporaryDirectory() as tmp:
        for cell in nb.cells:
            if cell.cell_type != "code": continue
            if skip(cell): cell.outputs = []; continue
            cell.outputs = [o for o in (keep(dict(o), Path(tmp), plotly_js) for o in cell.get("outputs", [])) if o is not None]
    write_nb(nb, path)


def main():
    import plotly
    plotly_js = Path(plotly.__file__).parent/"package_data"/"plotly.min.js"
    if not shutil.which("chromium"): sys.exit("chromium is not on PATH: `apt-get install chromium` (Debian), then run again")
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT/"nbs").glob("[0-9]*.ipynb"))
    for p in paths:
        print(f"{p.name} …", flush=True)
        run_notebook(p, plotly_js)
    subprocess.run(["nbdev-clean"], cwd=ROOT, check=True)
    for p in paths:
        size = p.stat().st_size
        print(f"{p.name}: {size / 1e3:.0f} kB" + ("  OVER 1 MB: store fewer outputs" if size > MAX_NB else ""))


if __name__ == "__main__":
    main()
