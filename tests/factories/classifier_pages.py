"""Pages the classifier tests render: text in several fonts, with mild noise and skew, as
PNG, multi-page TIFF, an image-only ("scanned") PDF and a PDF with a real text layer."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"]


def font(name: str = FONTS[0], size: int = 34) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / name
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


def render(
    lines: list[str],
    font_name: str = FONTS[0],
    noise: float = 0.0,
    skew_deg: float = 0.0,
    size: tuple[int, int] = (1100, 700),
    seed: int = 7,
) -> Image.Image:
    """A small page (a few lines of large text) so OCR stays fast in tests."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    typeface = font(font_name)
    for row, line in enumerate(lines):
        draw.text((60, 50 + row * 60), line, fill=0, font=typeface)
    if noise:
        rng = random.Random(seed)
        pixels = page.load()
        assert pixels is not None  # a loaded image has pixels
        for _ in range(int(size[0] * size[1] * noise)):
            pixels[rng.randrange(size[0]), rng.randrange(size[1])] = rng.choice((0, 255))
    if skew_deg:
        page = page.rotate(skew_deg, expand=False, fillcolor=255, resample=Image.Resampling.BICUBIC)
    return page


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tiff(images: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:], compression="tiff_lzw")
    return out.getvalue()


def image_pdf(images: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return out.getvalue()


def blank_page() -> Image.Image:
    return Image.new("L", (1100, 700), 255)


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a real text layer (Helvetica), written by hand: no rendering library needed."""
    objects: list[bytes] = []
    page_ids = []
    font_id = 3 + 2 * len(pages)
    for index, lines in enumerate(pages):
        content_id = 4 + 2 * index
        page_ids.append(3 + 2 * index)
        stream = (
            "BT /F1 14 Tf 72 720 Td 18 TL "
            + " ".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in lines)
            + " ET"
        )
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream".encode())
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    head = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()]
    everything = head + objects + [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(everything, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(everything) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(everything) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def oversized_png(side: int = 9000) -> bytes:
    """A colour PNG of `side` x `side` white pixels: a few hundred KB on disk, yet decoding it
    takes `3 * side**2` bytes (243 MB at 9000), under quarantine's pixel limit (100 Mpx) but
    over a small worker memory limit: a page that makes its OCR worker run out of memory."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), (255, 255, 255)).save(out, format="PNG", optimize=True)
    return out.getvalue()
