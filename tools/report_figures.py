"""Cut every plotly figure out of an `msma run` report into its own page and screenshot it with headless Chromium.

    python tools/report_figures.py msma_report /tmp/figs          # every figure: figNN.html + figNN.png, titles printed
    python tools/report_figures.py msma_report /tmp/figs 5,7,12   # only these

How figures/report/*.png were made (from the default `msma run`). Needs `chromium` on PATH (not a dependency).
"""
import re, sys, json, shutil
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from chapter_outputs import screenshot
rep, out = Path(sys.argv[1]), Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
page = (rep/"report.html").read_text()
shutil.copy(rep/"plotly.min.js", out/"plotly.min.js")
blocks = re.findall(r'<div style="[^"]*">\s*<div id="([^"]+)" class="plotly-graph-div"(.*?)</script>\s*</div>', page, re.S)
want = sys.argv[3].split(",") if len(sys.argv) > 3 else None
for k, (fid, rest) in enumerate(blocks):
    i = rest.index("Plotly.newPlot(") + len("Plotly.newPlot(")
    i = rest.index(",", i) + 1
    dec = json.JSONDecoder()
    while rest[i] in " \n": i += 1
    data, i = dec.raw_decode(rest, i)
    i = rest.index(",", i) + 1
    while rest[i] in " \n": i += 1
    layout, i = dec.raw_decode(rest, i)
    t = layout.get("title", {}); title = t.get("text", "") if isinstance(t, dict) else str(t)
    W, H = int(layout.get("width") or 1100), int(layout.get("height") or 500)
    print(k, W, H, title)
    if want and str(k) not in want: continue
    html = f'<html><head><meta charset="utf-8"><script src="plotly.min.js"></script></head><body style="margin:0"><div style="height:{H}px; width:{W}px;"><div id="{fid}" class="plotly-graph-div"{rest}</script></div></body></html>'
    (out/f"fig{k:02d}.html").write_text(html)
    screenshot(out/f"fig{k:02d}.html", out/f"fig{k:02d}.png", W + 20, H + 20)
