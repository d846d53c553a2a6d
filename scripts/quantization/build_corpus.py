#!/usr/bin/env python3
"""Build a large, varied calibration corpus for quantizing all-MiniLM-L6-v2 from text already on
this machine (no download), with nothing from the test or held-out sentences.

Sources (each optional, skipped when absent):
  * Python's pydoc_data.topics (the language reference, English prose)
  * docstrings of the standard library and of installed packages (site-packages)
  * /usr/share/doc/*/ README, NEWS, changelogs (plain or .gz)
  * man pages, English and every translated tree (/usr/share/man/<lang>/: ja, zh_CN, ru, ko, de, ...)
  * gettext catalogs (*.mo): the English message and its translation, in about 200 languages
    (short UI strings such as "Cancel", "Quit?", "Open File...", plus whole sentences)
Every paragraph is split into sentences; from those it derives, so that every length is covered:
  short   1-3 word windows and single words (texts whose embedding is mostly [CLS]/[SEP])
  medium  sentences and UI strings up to ~40 tokens
  vocab   single vocabulary entries (a word, a punctuation mark, one CJK character)
  punct   1-3 random ASCII punctuation marks
  long    runs of consecutive sentences of one document up to the 256-token limit
Texts are de-duplicated (case- and space-insensitive), mostly-symbol texts are dropped, and any
text whose token ids equal those of a test or held-out sentence, or that contains one of those
sentences (>= 4 words), is dropped. The result is sampled to fixed bucket sizes with a fixed seed.

  python scripts/quantization/build_corpus.py --output /work/calib/corpus.txt
"""
import argparse
import ast
import gettext
import gzip
import random
import re
import sys
import unicodedata
from pathlib import Path

from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
SENT_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
ROFF_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
ROFF_ESC = re.compile(r"\\(\(..|\[[^\]]*\]|[-&e|^ 0c%,/])")
ROFF_ACCENT = {":": "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", ",": "\u0327"}
ROFF_CHAR = {"oa": "å", "OA": "Å", "ss": "ß", "ae": "æ", "AE": "Æ", "/o": "ø", "/O": "Ø", "em": "—", "en": "–",
             "lq": "“", "rq": "”", "aq": "'", "dq": '"', "bu": "•", "co": "©", "hy": "-", "mi": "-", "ti": "~",
             "cq": "’", "oq": "‘", "Fo": "«", "Fc": "»", "de": "°", "mu": "×", "<=": "≤", ">=": "≥", "->": "→"}


def roff_escape(m):
    e = m.group(1)
    if e == "-":
        return "-"
    name = e[1:3] if e.startswith("(") else e[1:-1] if e.startswith("[") else ""
    if name in ROFF_CHAR:
        return ROFF_CHAR[name]
    if len(name) == 2 and name[0] in ROFF_ACCENT and name[1].isalpha():
        return unicodedata.normalize("NFC", name[1] + ROFF_ACCENT[name[0]])
    return ""


def read_text(path, limit):
    try:
        raw = gzip.open(path).read(limit) if str(path).endswith(".gz") else open(path, "rb").read(limit)
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return ""


def paragraphs(text):
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if para:
            yield para


def roff_to_text(src):
    """Crude man-page reader: keeps text lines and the text of font/section macros."""
    out = []
    for line in src.splitlines():
        if line.startswith((".", "'")):
            m = re.match(r"[.'](SH|SS|B|I|BR|IR|RB|BI|IB|RI|TP|PP|LP|P|IP)\b\s*(.*)", line)
            if not m:
                continue
            if m.group(1) in ("PP", "LP", "P", "TP", "IP"):
                out.append("")
                continue
            line = m.group(2).replace('"', "")
        line = ROFF_FONT.sub("", line)
        line = ROFF_ESC.sub(roff_escape, line)
        out.append(line)
    return "\n".join(out)


def source_pydoc():
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    for text in topics.values():
        yield "pydoc", text


def source_docstrings(dirs, max_files):
    files = []
    for d in dirs:
        files += sorted(Path(d).rglob("*.py"))
    random.Random(1).shuffle(files)
    for f in files[:max_files]:
        try:
            tree = ast.parse(read_text(f, 400_000))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 20:
                    yield "docstring", doc


def source_usr_doc(max_bytes):
    for f in sorted(Path("/usr/share/doc").glob("*/*")):
        name = f.name.lower()
        if f.is_file() and re.match(r"(readme|news|changelog|changes|history|faq|authors|todo|thanks)", name) \
                and not name.endswith((".html", ".pdf", ".png")):
            yield "usrdoc", read_text(f, max_bytes)


def source_man(max_bytes):
    base = Path("/usr/share/man")
    for f in sorted(base.glob("**/*.gz")):
        lang = f.relative_to(base).parts[0]
        yield ("man" if lang.startswith("man") else "man-" + lang), roff_to_text(read_text(f, max_bytes))


def source_mo():
    for f in sorted(Path("/").glob("usr/share/locale/*/LC_MESSAGES/*.mo")):
        try:
            with open(f, "rb") as fp:
                cat = gettext.GNUTranslations(fp)._catalog
        except Exception:
            continue
        lang = f.parts[4]
        for k, v in cat.items():
            if isinstance(k, tuple) or not k:
                continue
            for text, tag in ((k, "mo-en"), (v, "mo-" + lang)):
                text = text.replace("_", "").replace("&", "").replace("%s", "").replace("%d", "")
                yield tag, text


def plausible(text):
    """At least half letters/digits/space; no control characters; not a path/option dump."""
    if not text or any(unicodedata.category(c) == "Cc" for c in text):
        return False
    alnum = sum(c.isalnum() or c.isspace() for c in text)
    return alnum >= 0.5 * len(text) or len(text) <= 4


def norm(text):
    return " ".join(text.lower().split())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--output", required=True)
    p.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    p.add_argument("--short", type=int, default=3000, help="texts of 1-3 words")
    p.add_argument("--medium", type=int, default=5000, help="sentences up to ~40 tokens")
    p.add_argument("--sentences", type=int, default=2000, help="sentences of 40-128 tokens")
    p.add_argument("--long", type=int, default=1000, help="passages of consecutive sentences, 128-256+ tokens")
    p.add_argument("--vocab", type=int, default=500, help="single vocabulary entries (words, punctuation, CJK characters)")
    p.add_argument("--punct", type=int, default=200, help="strings of 1-3 random ASCII punctuation marks")
    p.add_argument("--docstring-files", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)

    banned_ids, banned_sub = set(), []
    for f in ("tests/fixtures/minilm/sentences.txt", "tests/fixtures/calibration/heldout_sentences.txt"):
        for s in open(ROOT / f, encoding="utf-8"):
            s = s.rstrip("\n")
            if s:
                banned_ids.add(tuple(tok(s)["input_ids"]))
                if len(s.split()) >= 4:
                    banned_sub.append(norm(s))

    site = [Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages",
            Path(f"/usr/lib/python{sys.version_info.major}.{sys.version_info.minor}")]
    sources = [source_pydoc(), source_docstrings([d for d in site if d.exists()], args.docstring_files),
               source_usr_doc(200_000), source_man(200_000), source_mo()]
    buckets = {"short": [], "medium": [], "long": []}
    seen = set()
    counts = {}

    def add(bucket, text, tag):
        text = text.strip()
        key = norm(text)
        if not key or key in seen or not plausible(text):
            return
        seen.add(key)
        buckets[bucket].append((tag, text))

    for src in sources:
        for tag, doc in src:
            counts[tag.split("-")[0]] = counts.get(tag.split("-")[0], 0) + 1
            sents_all = []
            for para in paragraphs(doc):
                sents = [s.strip() for s in SENT_SPLIT.split(para) if s and s.strip()]
                sents_all += sents
                sents_all.append(None)  # paragraph break
                for s in sents:
                    if len(s) > 2000:
                        continue
                    add("medium", s, tag)
                    words = s.split()
                    if len(words) > 3 and rng.random() < 0.3:
                        n = rng.randint(1, 3)
                        i = rng.randrange(len(words) - n + 1)
                        add("short", " ".join(words[i : i + n]), tag)
                    elif len(words) <= 3:
                        add("short", s, tag)
            # Long passages: consecutive sentences of one document (across paragraphs) up to
            # a random character budget (~4 chars per token).
            flat = [s for s in sents_all if s is not None and len(s) < 2000]
            i = 0
            while i < len(flat) and rng.random() < 0.5:
                budget = rng.randint(500, 1400)
                j, size = i, 0
                while j < len(flat) and size < budget:
                    size += len(flat[j]) + 1
                    j += 1
                if size >= 400:
                    add("long", " ".join(flat[i:j]), tag)
                i = j + rng.randint(0, 20)
    print("documents per source:", counts, file=sys.stderr)

    # Sort the medium/long texts into token-length buckets.
    def clean(items):
        out = []
        for tag, t in items:
            ids = tok(t, truncation=True, max_length=256)["input_ids"]
            if tuple(ids) in banned_ids or any(b in norm(t) for b in banned_sub):
                continue
            out.append((len(ids), tag, t))
        return out

    rng.shuffle(buckets["short"])
    rng.shuffle(buckets["medium"])
    rng.shuffle(buckets["long"])
    short = [x for x in clean(buckets["short"][: 4 * args.short]) if x[0] <= 8]
    medium = clean(buckets["medium"][: 10 * (args.medium + args.sentences)])
    longs = [x for x in clean(buckets["long"][: 4 * args.long]) if x[0] >= 128]
    mid = [x for x in medium if x[0] <= 40]
    sent = [x for x in medium if 40 < x[0] <= 128]
    chosen = []
    for name, pool, n in (("short", short, args.short), ("medium", mid, args.medium),
                          ("sentences", sent, args.sentences), ("long", longs, args.long)):
        # Balance sources: round-robin over source families; translations (any language but
        # English) form one family per source kind, so English stays about two thirds.
        by_tag = {}
        for x in pool:
            fam = x[1] if x[1] in ("mo-en",) or "-" not in x[1] else x[1].split("-")[0] + "-i18n"
            by_tag.setdefault(fam, []).append(x)
        picked, tags = [], sorted(by_tag)
        while len(picked) < n and tags:
            for t in list(tags):
                if by_tag[t]:
                    picked.append(by_tag[t].pop())
                else:
                    tags.remove(t)
                if len(picked) >= n:
                    break
        print(f"{name}: {len(picked)} of {len(pool)} (tokens {min(x[0] for x in picked)}-{max(x[0] for x in picked)}), "
              f"{len(by_tag)} source tags", file=sys.stderr)
        chosen += picked
    vocab = [w for w in tok.get_vocab() if not w.startswith(("##", "[")) and plausible(w)]
    vocab = sorted(vocab)
    rng.shuffle(vocab)
    singles = [x for x in clean([("vocab", w) for w in vocab[: 2 * args.vocab]]) if norm(x[2]) not in seen][: args.vocab]
    print(f"vocab: {len(singles)} single entries", file=sys.stderr)
    chosen += singles
    marks = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    puncts = clean([("punct", "".join(rng.choice(marks) for _ in range(rng.randint(1, 3)))) for _ in range(2 * args.punct)])
    puncts = list({x[2]: x for x in puncts}.values())[: args.punct]
    print(f"punct: {len(puncts)} punctuation strings", file=sys.stderr)
    chosen += puncts
    rng.shuffle(chosen)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(t.replace("\n", " ") + "\n" for _, _, t in chosen), encoding="utf-8")
    print(f"wrote {len(chosen)} texts, {sum(x[0] for x in chosen)} tokens, to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
