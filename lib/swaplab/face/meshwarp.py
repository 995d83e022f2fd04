"""Dense warps from landmarks: move an image drawn on one face shape onto another (piecewise-affine, or MLS).

The detail stage moves an exemplar's detail, drawn in the exemplar's geometry, onto the face it serves. Both
faces come with the same 478 MediaPipe points, so a triangulation of the points (``triangulate``, once, on a
reference shape) is a mesh on each face, and each triangle's affine map is the warp there: **piecewise-affine**
(``Mesh``). It is exact at every landmark, continuous across the triangles' edges, and cheap:

- the *destination* (the query face) is rasterised once (``Mesh(dst, ...)``: which triangle each pixel lies
  in, and its barycentric coordinates), so each further source (each exemplar) costs one gather and one
  weighted sum (``Mesh.map_from``) before ``cv2.remap``;
- the maps are computed on a coarse grid (``grid`` px, e.g. the decoder's 64) and resized to the image's size:
  a piecewise-affine map is linear inside each triangle and continuous across edges, so the bilinear resize
  errs only in the few pixels next to an edge, by a small fraction of a pixel;
- outside the mesh (hair, background) the map is the least-squares affine of all points.

``mls_map`` is the affine moving-least-squares warp (Schaefer et al. 2006) on the same grid, to compare: smooth
everywhere, exact at the points only in the limit, and a (grid^2 x points) product per source.

Coordinates are pixel centres (OpenCV's): pixel (x, y) covers [x - 0.5, x + 0.5].
"""

from __future__ import annotations

import cv2
import numpy as np


def triangulate(points: np.ndarray) -> np.ndarray:
    """(T, 3) int32: the Delaunay triangles of a reference shape (P, 2): the mesh every face of that topology shares."""
    from scipy.spatial import Delaunay

    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"points have shape {pts.shape}: give (P >= 3, 2) landmarks of one face")
    return Delaunay(pts).simplices.astype(np.int32)


def _grid_coords(grid: int, size: int) -> np.ndarray:
    """(grid,) positions, in px of ``size``, of a ``grid`` px image's pixel centres (the area-resize geometry)."""
    return (np.arange(grid, dtype=np.float64) + 0.5) * (size / grid) - 0.5


def affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3): the least-squares affine map of (P, 2) ``dst`` onto ``src``."""
    a = np.hstack([np.asarray(dst, np.float64), np.ones((len(dst), 1))])
    sol, *_ = np.linalg.lstsq(a, np.asarray(src, np.float64), rcond=None)
    return sol.T


def barycentric(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3): the barycentric coordinates of points ``p`` (..., 2) in triangles ``v`` (..., 3, 2) (broadcast)."""
    e1, e2, r = v[..., 1, :] - v[..., 0, :], v[..., 2, :] - v[..., 0, :], p - v[..., 0, :]
    det = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    b1 = (r[..., 0] * e2[..., 1] - r[..., 1] * e2[..., 0]) / det
    b2 = (e1[..., 0] * r[..., 1] - e1[..., 1] * r[..., 0]) / det
    return np.stack([1 - b1 - b2, b1, b2], -1)


class Mesh:
    """The destination face on a ``grid`` x ``grid`` lattice of a ``size`` px image: per lattice pixel inside the mesh,
    its triangle (drawn in order, ``cv2.fillConvexPoly``) and barycentric coordinates; ``map_from(src)`` is then the
    warp's map for a source's landmarks. ``triangles``: the fixed topology (``triangulate`` of a reference shape). (The
    destination's own Delaunay triangulation with scipy's ``find_simplex`` was ~80x slower per face.)"""

    def __init__(self, dst: np.ndarray, triangles: np.ndarray, size: int = 256, grid: int | None = None):
        self.dst = np.asarray(dst, np.float64)
        self.size, self.grid = int(size), int(grid or size)
        axis = _grid_coords(self.grid, self.size)
        xs, ys = np.meshgrid(axis, axis)
        p = np.stack([xs.ravel(), ys.ravel()], -1)
        self.tri = np.asarray(triangles, np.int32)
        ids = self._raster()
        g = self.grid
        self.ids = ids.reshape(g, g)
        inside = ids >= 0
        b = barycentric(p, self.dst[self.tri[np.maximum(ids, 0)]])  # (g^2, 3)
        b12 = np.clip(b[:, 1:], -0.5, 1.5)  # a sliver's edge pixels stay bounded
        b = np.concatenate([1 - b12.sum(1, keepdims=True), b12], 1)
        self.bary = np.where(inside[:, None], b, 0.0).reshape(g, g, 3)
        self.lattice = p.reshape(g, g, 2)
        self._fit = np.linalg.pinv(np.hstack([self.dst, np.ones((len(self.dst), 1))]))  # (3, P): any source's affine

    def _raster(self) -> np.ndarray:
        """(grid^2,) the fixed triangles' ids drawn in order (later ones over earlier), -1 outside."""
        g, k = self.grid, self.grid / self.size
        corners = np.round(((self.dst + 0.5) * k - 0.5) * 16).astype(np.int32)[self.tri]  # 4 sub-pixel bits
        ids = np.zeros((g, g), np.uint16)
        for t, c in enumerate(corners):
            cv2.fillConvexPoly(ids, c, t + 1, cv2.LINE_8, 4)
        return ids.ravel().astype(np.int32) - 1

    def map_from(self, src: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """(size, size, 2) float32 (or the destination ``box`` (x0, y0, x1, y1)'s (y1 - y0, x1 - x0, 2)): for each
        destination pixel, where to read the source image whose landmarks are ``src`` (P, 2), for ``cv2.remap``."""
        src = np.asarray(src, np.float64)
        g, k = self.grid, self.grid / self.size
        if box is None:
            ly0 = lx0 = 0
            ly1 = lx1 = g
        else:  # the lattice pixels around the box, one more on each side for the interpolation
            lx0, ly0 = (max(int(np.floor((c + 0.5) * k - 0.5)) - 1, 0) for c in box[:2])
            lx1, ly1 = (min(int(np.ceil((c - 0.5) * k - 0.5)) + 2, g) for c in box[2:])
        ids, bary = self.ids[ly0:ly1, lx0:lx1], self.bary[ly0:ly1, lx0:lx1]
        inside = ids >= 0
        out = np.empty((*ids.shape, 2), np.float64)
        out[inside] = np.einsum("mk,mkc->mc", bary[inside], src[self.tri[ids[inside]]])
        if not inside.all():
            lat = self.lattice[ly0:ly1, lx0:lx1][~inside]
            m = (self._fit @ src).T  # (2, 3): the least-squares affine of all points, dst -> src
            out[~inside] = lat @ m[:, :2].T + m[:, 2]
        out = out.astype(np.float32)
        if box is None and g == self.size:
            return out
        x0, y0, x1, y1 = box or (0, 0, self.size, self.size)
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) * k - 0.5 - lx0  # the box's pixels in the sub-lattice
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * k - 0.5 - ly0
        mx, my = np.meshgrid(xs, ys)
        return cv2.remap(out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _to_size(grid_map: np.ndarray, size: int) -> np.ndarray:
    g = grid_map.shape[0]
    m = grid_map.astype(np.float32)
    return m if g == size else cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)


def mls_map(src: np.ndarray, dst: np.ndarray, size: int, grid: int | None = None, alpha: float = 1.0) -> np.ndarray:
    """(size, size, 2) float32: the affine moving-least-squares map from the destination's pixels to the source,
    with control points ``dst`` -> ``src`` (P, 2) (weights 1 / |v - p|^(2 alpha)), computed on a ``grid`` lattice."""
    g = int(grid or size)
    axis = _grid_coords(g, size)
    xs, ys = np.meshgrid(axis, axis)
    v = np.stack([xs.ravel(), ys.ravel()], -1)  # (M, 2)
    p, q = np.asarray(dst, np.float64), np.asarray(src, np.float64)
    w = 1.0 / np.maximum(((v[:, None] - p[None]) ** 2).sum(-1), 1e-8) ** alpha  # (M, P)
    w /= w.sum(1, keepdims=True)
    p_star, q_star = w @ p, w @ q  # (M, 2)
    # per pixel: A = sum w ph ph^T, B = sum w ph qh^T (2 x 2), ph = p - p*, qh = q - q*; as products with the points
    pp = (w @ (p[:, :, None] * p[:, None, :]).reshape(-1, 4)).reshape(-1, 2, 2) - p_star[:, :, None] * p_star[:, None, :]
    pq = (w @ (p[:, :, None] * q[:, None, :]).reshape(-1, 4)).reshape(-1, 2, 2) - p_star[:, :, None] * q_star[:, None, :]
    m = np.linalg.solve(pp + 1e-9 * np.eye(2), pq)  # (M, 2, 2)
    out = np.einsum("mi,mij->mj", v - p_star, m) + q_star
    return _to_size(out.reshape(g, g, 2), size)


def remap(image: np.ndarray, warp_map: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``image`` read through ``warp_map`` (from ``Mesh.map_from`` or ``mls_map``), bilinear, edges replicated; only
    the destination ``box`` (x0, y0, x1, y1) when given."""
    m = warp_map if box is None else warp_map[box[1]:box[3], box[0]:box[2]]
    return cv2.remap(image, np.ascontiguousarray(m[..., 0]), np.ascontiguousarray(m[..., 1]), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
