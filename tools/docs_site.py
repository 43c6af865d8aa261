"""Render the processed chapter notebooks to a static HTML site, offline: `python tools/docs_site.py [--src _proc] [--out _site]`.

The documentation site proper is built by Quarto (`nbdev-docs`, .github/workflows/docs.yml) on a machine that has it.
Quarto cannot be installed here, so CI renders the same processed notebooks (`nbdev-proc-nbs` writes them to _proc/)
with nbconvert, and tests/test_site.py opens every page in Chromium: it loads, draws its figures, shows no error.

What this does beyond nbconvert's `lab` template:
- applies the cell directives the docs honour: `hide` and `include: false` drop the cell, `echo: false` its input,
  `output: false` its outputs;
- draws every stored plotly figure with a local copy of plotly.js (the stored outputs point at a CDN, unreachable
  offline; plotly's CDN loader outputs are dropped), and loads nothing else from the network (no require.js, MathJax,
  mermaid or widget embedder: TeX shows as source, and a page shows a widget's snapshot, never the widget);
- refuses a live widget with no static fallback: a stored widget view renders as an empty box in any static page, so
  the cell must say `#| output: false` and a later cell show a snapshot (`Workbench.snapshot()`).
It writes pages.json: per page its title and how many figures, images and error outputs it has, for the browser test.
"""
import argparse, html, json, re, shutil, sys
from pathlib import Path

import nbformat
import plotly
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
CELL_KEYS = {"cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"}
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}<script src="plotly.min.js"></script>{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}{{ super() }}<nav class="msma-nav">NAV</nav>{%- endblock body_header -%}
"""


def directives(cell) -> dict:
    "The cell's `#| key: value` / `#| flag` lines (nbdev and Quarto spellings alike), lower-cased"
    out = {}
    for line in cell.source.splitlines():
        m = re.match(r"\s*#\|\s*(.*)", line)
        if not m: break
        for part in re.split(r"\s+(?=[\w-]+:)|,\s*", m.group(1).strip()) if ":" in m.group(1) else m.group(1).split():
            k, _, v = part.partition(":")
            out[k.strip().lower()] = v.strip().lower() or True
    return out


def _plot(fig: dict, i: int) -> str:
    div = f"msma-plot-{i}"
    return (f'<div id="{div}" class="msma-plot"></div><script>Plotly.newPlot("{div}", {json.dumps(fig.get("data", []))}, '
            f'{json.dumps(fig.get("layout", {}))}, {{"responsive": true}});</script>')


def prepare(nb, name: str) -> tuple:
    "Apply the directives and make the outputs static; returns (notebook, counts)"
    cells, counts, k = [], dict(plots=0, images=0, errors=0), 0
    for c in nb.cells:
        for k in [k for k in c if k not in CELL_KEYS]: del c[k]          # nbdev's own marks (has_sd...): not nbformat
        c.metadata.pop("execution", None)                                 # timings nbdev-proc-nbs adds, not valid nbformat
        d = directives(c)
        if c.cell_type != "code": cells.append(c); continue
        if d.get("hide") or d.get("include") == "false" or d.get("default_exp") or d.get("eval") == "false" and not c.outputs:
            continue
        if d.get("output") == "false": c.outputs = []
        if d.get("echo") == "false": c.metadata["jupyter"] = {"source_hidden": True}; c.source = ""
        c.source = "\n".join(l for l in c.source.splitlines() if not re.match(r"\s*#\|", l))
        keep = []
        for o in c.outputs:
            if o.output_type == "error": counts["errors"] += 1
            data = o.get("data", {})
            if "cdn.plot.ly" in "".join(data.get("text/html", "")) and "<div" not in "".join(data.get("text/html", "")):
                continue                          # plotly's notebook-connected loader: a CDN import, nothing to see
            keep.append(o)
            if WIDGET in data:
                raise SystemExit(f"{name}: a cell shows a live widget with no static fallback (an empty box in the docs): "
                                 f"give it `#| output: false` and show a snapshot in a later cell\n{c.source[:200]}")
            if PLOTLY in data:
                k += 1; counts["plots"] += 1
                o["data"] = {"text/html": _plot(data[PLOTLY], k)}
            elif any(m.startswith("image/") for m in data): counts["images"] += 1
        c.outputs = keep
        cells.append(c)
    nb.cells = cells
    return nb, counts


def title(nb, fallback: str) -> str:
    "The page's title: the front matter nbdev-proc-nbs writes, else the first `# heading`"
    for c in nb.cells:
        if c.cell_type == "raw" and (m := re.search(r"^title:\s*(.+)$", c.source, re.M)): return m.group(1).strip().strip("'\"")
    for c in nb.cells:
        if c.cell_type == "markdown" and (m := re.match(r"#\s+(.+)", c.source.strip())): return m.group(1).strip()
    return nb.metadata.get("title") or fallback


def order(src: Path) -> list:
    "Pages in the sidebar's order (nbs/sidebar.yml), then any others"
    names = re.findall(r"-\s+(\S+\.ipynb)", (ROOT / "nbs" / "sidebar.yml").read_text())
    have = sorted(p.name for p in src.glob("*.ipynb"))
    return [n for n in names if n in have] + [n for n in have if n not in names]


def build(src: Path, out: Path) -> list:
    if not src.is_dir(): raise SystemExit(f"no {src}: run nbdev-proc-nbs first")
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", out / "plotly.min.js")
    tdir = out.parent / (out.name + "-template") / "msma"; tdir.mkdir(parents=True, exist_ok=True)
    pages, names = [], order(src)
    nbs = {n: nbformat.read(src / n, as_version=4) for n in names}
    nav = " · ".join(f'<a href="{Path(n).stem}.html">{html.escape(title(nbs[n], Path(n).stem))}</a>' for n in names)
    (tdir / "index.html.j2").write_text(TEMPLATE.replace("NAV", nav))
    (tdir / "conf.json").write_text(json.dumps({"base_template": "lab", "mimetypes": {"text/html": True}}))
    ex = HTMLExporter(template_name="msma", extra_template_basedirs=[str(tdir.parent)], exclude_input_prompt=True,
                      exclude_output_prompt=True)
    for n in names:
        nb, counts = prepare(nbs[n], n)
        body, _ = ex.from_notebook_node(nb, resources={"metadata": {"name": title(nb, Path(n).stem)}})
        (out / f"{Path(n).stem}.html").write_text(body)
        pages.append(dict(page=f"{Path(n).stem}.html", title=title(nb, Path(n).stem), **counts))
    shutil.rmtree(tdir.parent)
    (out / "pages.json").write_text(json.dumps(pages, indent=1))
    return pages


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(ROOT / "_proc"))
    ap.add_argument("--out", default=str(ROOT / "_site"))
    a = ap.parse_args()
    pages = build(Path(a.src), Path(a.out))
    bad = [p for p in pages if p["errors"]]
    print(f"{len(pages)} pages, {sum(p['plots'] for p in pages)} plotly figures, {sum(p['images'] for p in pages)} images -> {a.out}")
    if bad: sys.exit(f"error outputs in: {', '.join(p['page'] for p in bad)}")
