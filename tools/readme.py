"""Render nbs/index.ipynb to README.md (nbdev-readme needs Quarto, which cannot be installed here).

    python tools/readme.py           # write README.md
    python tools/readme.py --check   # exit 1 if README.md differs from what index.ipynb renders
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render(nb_path=root/"nbs"/"index.ipynb") -> str:
    "Markdown cells as they are, visible code cells as python blocks (directives dropped), no outputs"
    parts = []
    for c in json.loads(nb_path.read_text())["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown": parts.append(src)
        elif c["cell_type"] == "code" and not re.search(r"^#\|\s*(hide|exec_doc|export)", src, re.M):
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            if code: parts.append(f"```python\n{code}\n```")
    return "\n\n".join(parts).strip() + "\n"

if __name__ == "__main__":
    text, readme = render(), root/"README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`")
    else: readme.write_text(text)
