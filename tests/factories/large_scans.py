"""A large scanned letter, as a scanning room's software writes one: each page a full-resolution
grey image with the paper's grain (so it does not compress), most pages with the invisible text
layer the scanner's own OCR added, and a page without one (it gets OCR'd here). Written by
hand, uncompressed, as some scanners do: tens of MB for a few pages."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from tests.factories.classifier_pages import font, render

A4_300_DPI = (2480, 3508)


def grainy_page(lines: list[str], size: tuple[int, int] = A4_300_DPI, seed: int = 1) -> Image.Image:
    """A page of text on paper grain: each pixel a random light grey."""
    grain = np.random.default_rng(seed).integers(200, 256, size=(size[1], size[0]), dtype=np.uint8)
    page = Image.fromarray(grain, mode="L")
    draw = ImageDraw.Draw(page)
    typeface = font(size=44)
    for row, line in enumerate(lines):
        draw.text((240, 300 + row * 80), line, fill=0, font=typeface)
    return page


def _image_object(image: Image.Image) -> bytes:
    head = (
        f"<< /Type /XObject /Subtype /Image /Width {image.width} /Height {image.height} "
        f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length {image.width * image.height} >>\nstream\n"
    )
    return head.encode() + image.tobytes() + b"\nendstream"


def _text_layer(lines: list[str]) -> str:
    """Invisible text (render mode 3) over the image, as scanner OCR writes it."""
    shown = " ".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in lines)
    return f"BT 3 Tr /F1 11 Tf 58 770 Td 19 TL {shown} ET"


def searchable_scan(pages_with_text: list[list[str]], page_without_text: list[str]) -> bytes:
    """A PDF: one grainy full-page image per entry of `pages_with_text`, each with its text layer,
    then one image-only page of `page_without_text`."""
    pages = [(grainy_page(lines, seed=n), lines) for n, lines in enumerate(pages_with_text, start=1)]
    pages.append((render(page_without_text), []))
    objects: list[bytes] = [b"", b""]  # catalog and page tree, filled in below
    font_id = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    for image, lines in pages:
        image_id, content_id, page_id = len(objects) + 1, len(objects) + 2, len(objects) + 3
        drawing = "q 595 0 0 842 0 0 cm /Im0 Do Q" + (f" {_text_layer(lines)}" if lines else "")
        objects.append(_image_object(image))
        objects.append(f"<< /Length {len(drawing)} >>\nstream\n{drawing}\nendstream".encode())
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_id} 0 R "
            f"/Resources << /XObject << /Im0 {image_id} 0 R >> /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        page_ids.append(page_id)
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
