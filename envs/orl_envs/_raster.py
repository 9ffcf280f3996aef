"""A tiny numpy rasteriser for ``render_mode="rgb_array"``: discs, squares, lines, bars, heatmaps.

orl-envs' only dependencies are gymnasium and numpy, so the environments draw their pictures here
instead of with matplotlib (which a plain ``pip install orl-envs`` does not have). Everything works
in pixel coordinates (``x`` to the right, ``y`` downwards) on a ``(height, width, 3)`` uint8 image;
:meth:`Canvas.unit_to_px` maps the unit square (``y`` upwards) into the drawing area.
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (20, 20, 20)
GREY: Color = (170, 170, 170)
LIGHT: Color = (225, 225, 225)
BLUE: Color = (31, 119, 180)
RED: Color = (214, 39, 40)
GREEN: Color = (44, 160, 44)
ORANGE: Color = (255, 127, 14)

# Five anchors of matplotlib's "viridis" colour map, interpolated linearly by :func:`colormap`.
_VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1] (any shape) -> uint8 RGB (shape + (3,)), a viridis-like ramp."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(np.floor(v).astype(int), len(_VIRIDIS) - 2)
    t = (v - lo)[..., None]
    return np.round(_VIRIDIS[lo] * (1 - t) + _VIRIDIS[lo + 1] * t).astype(np.uint8)


class Canvas:
    """An RGB image to draw on; ``margin`` pixels are kept free around the unit square's image."""

    def __init__(self, height: int = 256, width: int = 256, margin: int = 12, background: Color = WHITE) -> None:
        self.image = np.empty((height, width, 3), dtype=np.uint8)
        self.image[:] = background
        self.height, self.width, self.margin = height, width, margin

    def unit_to_px(self, xy: np.ndarray) -> np.ndarray:
        """Points of the unit square (``(..., 2)``, ``y`` up) -> float pixel coordinates (``y`` down)."""
        xy = np.asarray(xy, dtype=np.float64)
        side = min(self.height, self.width) - 2 * self.margin
        x = self.margin + xy[..., 0] * side
        y = self.height - self.margin - xy[..., 1] * side
        return np.stack([x, y], axis=-1)

    def _put(self, x: np.ndarray, y: np.ndarray, color: Color) -> None:
        x, y = np.round(x).astype(int).ravel(), np.round(y).astype(int).ravel()
        keep = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        self.image[y[keep], x[keep]] = color

    def line(self, p0: np.ndarray, p1: np.ndarray, color: Color = BLACK, width: int = 1) -> None:
        """A straight segment between two pixel points, ``width`` pixels thick."""
        (x0, y0), (x1, y1) = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
        steps = int(np.ceil(max(abs(x1 - x0), abs(y1 - y0)))) + 1
        t = np.linspace(0.0, 1.0, steps)
        x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        offsets = np.arange(width) - (width - 1) / 2
        for dx in offsets:
            for dy in offsets:
                self._put(x + dx, y + dy, color)

    def polyline(self, points: np.ndarray, color: Color = BLACK, width: int = 1) -> None:
        """Consecutive segments through ``points`` (pixel coordinates, ``(k, 2)``)."""
        for a, b in zip(points[:-1], points[1:]):
            self.line(a, b, color, width)

    def disc(self, center: np.ndarray, radius: float, color: Color) -> None:
        """A filled disc (pixel coordinates)."""
        cx, cy = center
        r = int(np.ceil(radius))
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        inside = dx**2 + dy**2 <= radius**2 + 0.5
        self._put(cx + dx[inside], cy + dy[inside], color)

    def square(self, center: np.ndarray, half: float, color: Color) -> None:
        """A filled axis-aligned square of side ``2 * half + 1`` pixels."""
        cx, cy = center
        self.rect(cx - half, cy - half, cx + half, cy + half, color)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        """A filled rectangle between two pixel corners (inclusive, clipped to the image)."""
        xa, xb = sorted((int(round(x0)), int(round(x1))))
        ya, yb = sorted((int(round(y0)), int(round(y1))))
        xa, ya = max(xa, 0), max(ya, 0)
        xb, yb = min(xb, self.width - 1), min(yb, self.height - 1)
        if xa <= xb and ya <= yb:
            self.image[ya : yb + 1, xa : xb + 1] = color

    def bar(self, fraction: float, y: int, color: Color = GREEN, height: int = 5) -> None:
        """A horizontal gauge across the drawing area at row ``y``: ``fraction`` of it filled."""
        x0, x1 = self.margin, self.width - self.margin - 1
        self.rect(x0, y, x1, y + height - 1, LIGHT)
        f = float(np.clip(np.nan_to_num(fraction), 0.0, 1.0))
        if f > 0:
            self.rect(x0, y, x0 + f * (x1 - x0), y + height - 1, color)

    def heatmap(self, values: np.ndarray) -> tuple[int, int, int]:
        """Draw a matrix of values in [0, 1] as square cells filling the area; returns (x0, y0, cell)."""
        rows, cols = values.shape
        area = min(self.height, self.width) - 2 * self.margin
        cell = max(1, area // max(rows, cols))
        img = np.repeat(np.repeat(colormap(values), cell, axis=0), cell, axis=1)
        x0 = y0 = self.margin
        h, w = min(img.shape[0], self.height - y0), min(img.shape[1], self.width - x0)
        self.image[y0 : y0 + h, x0 : x0 + w] = img[:h, :w]
        return x0, y0, cell
