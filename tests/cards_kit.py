"""Reading a PDF of access cards back: page images, QR codes, text, and drawn glyph runs.

pypdfium2 rasterizes (no system tool needed), zxing-cpp decodes the QR codes, and pypdf
walks the content streams so a test can see which glyphs were drawn and in what order.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
import zxingcpp
from pypdf import PdfReader
from pypdf.generic import ContentStream


def page_images(pdf: bytes, dpi: int = 200) -> list:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].render(scale=dpi / 72).to_pil() for i in range(len(doc))]
    finally:
        doc.close()


def qr_texts(image) -> list[str]:
    """Every QR code zxing-cpp finds on a page image, top to bottom, left to right."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    found.sort(key=lambda b: (round(b.position.top_left.y / 50), b.position.top_left.x))
    return [b.text for b in found]


def page_texts(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def _to_unicode(font) -> dict[int, str]:
    """CID -> text from a font's ToUnicode CMap (bfchar and bfrange entries)."""
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
    out: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for cid, uni in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(cid, 16)] = bytes.fromhex(uni).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for lo, hi, uni in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            start = int(uni, 16)
            for i, cid in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                out[cid] = chr(start + i)
    return out


@dataclass
class Run:
    """One text-showing operation: the font's base name, the CIDs drawn left to right, and
    their text through the font's ToUnicode map."""
    font: str
    cids: list[int]
    text: str


def glyph_runs(pdf: bytes, page_no: int = 0) -> list[Run]:
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[page_no]
    fonts = {name: f.get_object() for name, f in page["/Resources"]["/Font"].items()}
    maps = {name: _to_unicode(f) for name, f in fonts.items()}
    runs: list[Run] = []
    current = None
    for operands, op in ContentStream(page.get_contents(), reader).operations:
        if op == b"Tf":
            current = operands[0]
        elif op in (b"Tj", b"TJ") and current is not None:
            parts = operands[0] if op == b"TJ" else [operands[0]]
            raw = b"".join(p.original_bytes if hasattr(p, "original_bytes") else bytes(p)
                           for p in parts if isinstance(p, (bytes, str)) or hasattr(p, "original_bytes"))
            cids = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw) - 1, 2)]
            base = str(fonts[current]["/BaseFont"]).split("+")[-1]
            runs.append(Run(base, cids, "".join(maps[current].get(c, "\ufffd") for c in cids)))
    return runs
