"""The ``pixels`` mode's world: procedurally generated 3D objects rendered by MuJoCo from 8 viewpoints on a ring.

Needs ``pip install 'orl-envs[multiview]'`` (MuJoCo) and an offscreen OpenGL: EGL by default (``MUJOCO_GL=egl``
is set if ``MUJOCO_GL`` is unset; Mesa's ``libegl1`` + ``libegl-mesa0`` + ``libgl1-mesa-dri`` render on a CPU) or
OSMesa (``MUJOCO_GL=osmesa``, ``libosmesa6``). MuJoCo is imported on first use, with an ``ImportError`` naming
the extra when it is missing.

The world (drawn once from ``model_seed``):

* coarse class = **body shape**: box, cylinder, ellipsoid, horizontal capsule (``n_coarse`` <= 4 of them), each
  with eight radial ribs between the ring directions (the same for all objects of the shape);
* fine class = a **small part** on the body: its shape and colour are those of ``j mod 4`` for the fine index
  ``j`` (sphere, cube, short cylinder, flat ellipsoid; ``n_fine`` <= 8, so with more than 4 siblings two share a
  part and differ only in where it sits), its position a ring direction drawn per fine class (siblings differ),
  in the slot between two ribs, sunk into the body's side, so that it shows only from the 1-4 viewpoints that
  face it;
* nuisance per object: the body's colour. (Not its size: a scale nuisance made a part peek out by a pixel or two
  in views that are not its class's key views for some objects, and the ideal observer below inexact.)

Eight cameras on a ring (azimuth ``45 v`` degrees, elevation -20, looking at the object) render ``image_size``
square RGB images, without shadows or anti-aliasing (deterministic, and about 0.4 ms per image on a CPU).

**Key views** of a fine class are the views in which its part is visible: rendered with and without the part,
some pixel differs (measured once per world; the geometry does not vary between objects, and the part colours
differ from every body colour, so it holds for every object). Objects of sibling fine classes with the same
body colour differ exactly in their key views (a test checks it pixel by pixel).

**Ideal-observer posterior.** Rendering is noise-free and the geometry does not vary between objects, so a
perfect reader of the images can rule out exactly the classes whose object, with the same body colour, would
look different in some seen view. ``same_view[y, y', v]`` (measured once per world by rendering every class) says
whether classes ``y`` and ``y'`` look identical from view ``v`` (never across body shapes; between siblings, in
the views where neither part shows, and where both show identically). ``P(y' | seen views)`` is uniform over the
classes ``y'`` with ``same_view[y*, y', v]`` for every seen ``v`` — the exact posterior of this world for a perfect
reader, used for the environment's reward and to score view orders (its accuracy counts a tie among ``k``
consistent classes as ``1 / k``, a random tie-break). A learned CNN classifier has to earn it from the pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .model import N_VIEWS, _int_in

#: Part of the cache key of rendered datasets: bump it with any change to how objects are drawn.
GEOMETRY_VERSION = 1
RIB = (0.07, 0.01, 0.9)  # a rib's radial half-length, half-thickness, and half-height relative to the body's
INSET = 0.7  # how deep a part sits in the body's side, in units of its own half-size (0: centred on the surface)
ELEVATION = -10.0  # degrees; the cameras look slightly down
_BODIES = ("box", "cylinder", "ellipsoid", "capsule")
_PARTS = ("sphere", "box", "cylinder", "ellipsoid")
_PART_RGBA = np.array([[1.0, 0.8, 0.0, 1.0], [0.9, 0.1, 0.1, 1.0], [0.1, 0.8, 0.2, 1.0], [0.9, 0.3, 0.9, 1.0]])
# half-extents of the bodies in x (along the ring direction 0), y, z
_BODY_HALF = {"box": (0.34, 0.22, 0.16), "cylinder": (0.25, 0.25, 0.16), "ellipsoid": (0.36, 0.22, 0.18),
              "capsule": (0.36, 0.16, 0.16)}
_PART_SIZE = {"sphere": (0.075, 0.0, 0.0), "box": (0.065, 0.065, 0.065), "cylinder": (0.07, 0.06, 0.0),
              "ellipsoid": (0.095, 0.06, 0.045)}


def import_mujoco():
    """MuJoCo, with ``MUJOCO_GL=egl`` unless set; an ImportError naming the extra when it is not installed."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco
    except ImportError as e:
        raise ImportError("the multi-view pixels mode renders with MuJoCo, which is not installed: "
                          "pip install 'orl-envs[multiview]'") from e
    return mujoco


class _Offscreen:
    """A minimal offscreen renderer (what ``mujoco.Renderer`` does), with the OpenGL context chosen here from
    ``MUJOCO_GL`` at first use (``mujoco.Renderer`` fixes it when mujoco is first imported, which may have happened
    before this module could set ``egl``); no shadows, reflections, skybox or anti-aliasing."""

    def __init__(self, mujoco, model, px: int) -> None:
        backend = os.environ.get("MUJOCO_GL", "egl").strip().lower()
        try:
            if backend == "egl":
                from mujoco.egl import GLContext
            elif backend == "osmesa":
                from mujoco.osmesa import GLContext
            else:
                from mujoco.glfw import GLContext
            self.context = GLContext(px, px)
            self.context.make_current()
            self.mjr = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        except Exception as e:  # no offscreen OpenGL here
            raise RuntimeError(
                f"MuJoCo cannot render offscreen with MUJOCO_GL={backend!r} ({type(e).__name__}: {e}); EGL needs "
                "libegl1, libegl-mesa0 and libgl1-mesa-dri (Mesa, renders on a CPU); OSMesa needs libosmesa6 and "
                "MUJOCO_GL=osmesa") from e
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.mjr)
        self.mujoco, self.model, self.px = mujoco, model, px
        self.scene = mujoco.MjvScene(model, maxgeom=256)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            self.scene.flags[flag] = 0
        self.option, self.perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
        self.rect = mujoco.MjrRect(0, 0, px, px)
        self.buffer = np.empty((px, px, 3), dtype=np.uint8)

    def render(self, data, camera) -> np.ndarray:
        m = self.mujoco
        self.context.make_current()
        m.mjv_updateScene(self.model, data, self.option, self.perturb, camera, m.mjtCatBit.mjCAT_ALL, self.scene)
        m.mjr_render(self.rect, self.scene, self.mjr)
        m.mjr_readPixels(self.buffer, None, self.rect, self.mjr)
        return np.flipud(self.buffer)

    def close(self) -> None:
        if self.context is not None:
            self.mjr.free()
            self.context.free()
            self.context = None


def _body_radius(body: str, angle: float) -> float:
    """Distance from the centre to the body's side in the horizontal direction ``angle`` (radians)."""
    hx, hy, _ = _BODY_HALF[body]
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    if body == "box":
        return float(min(hx / max(c, 1e-9), hy / max(s, 1e-9)))
    if body == "cylinder":
        return hx
    return float(1.0 / np.sqrt((c / hx) ** 2 + (s / hy) ** 2))  # ellipsoid; capsule approximated by its ellipse


class PixelWorld:
    """Bodies, parts, cameras and the renderer of the ``pixels`` mode (see the module docstring).

    ``sample(rng, n)`` -> ``(labels, objects)`` with ``objects`` ``(n, 3)`` float (the body colour r, g, b);
    ``observe(labels, objects)`` -> images ``(n, 8, image_size, image_size, 3)`` uint8;
    ``posterior(labels, seen)`` the ideal observer's posterior; ``key_views`` ``(n_classes, 8)`` bool.
    """

    def __init__(self, n_coarse: int = 4, n_fine: int = 4, image_size: int = 32, model_seed: int = 0,
                 what: str = "PixelWorld") -> None:
        self.n_coarse = _int_in(n_coarse, "n_coarse", 2, len(_BODIES), what)
        self.n_fine = _int_in(n_fine, "n_fine", 2, N_VIEWS, what)
        self.image_size = _int_in(image_size, "image_size", 16, 256, what)
        self.model_seed = _int_in(model_seed, "model_seed", 0, 2**63 - 1, what)
        self.settings = dict(n_coarse=self.n_coarse, n_fine=self.n_fine, image_size=self.image_size,
                             model_seed=self.model_seed)
        rng = np.random.default_rng(self.model_seed)
        # every fine class's part faces one ring direction, offset within +-10 degrees; siblings differ
        self.part_direction = np.zeros(self.n_classes, dtype=np.int64)
        for c in range(self.n_coarse):
            self.part_direction[c * self.n_fine:(c + 1) * self.n_fine] = rng.choice(N_VIEWS, self.n_fine, replace=False)
        self.part_angle = np.deg2rad(45.0 * self.part_direction + rng.uniform(-4, 4, self.n_classes))
        self.part_height = rng.uniform(-0.05, 0.08, self.n_classes)
        self._renderer = None
        self.key_views, self.same_view = self._measure_views()

    @property
    def n_classes(self) -> int:
        return self.n_coarse * self.n_fine

    @property
    def n_views(self) -> int:
        return N_VIEWS

    # -- scene
    def _build(self):
        mujoco = import_mujoco()
        geoms = []
        for c in range(self.n_coarse):
            body = _BODIES[c]
            hx, hy, hz = _BODY_HALF[body]
            size = {"box": f"{hx} {hy} {hz}", "cylinder": f"{hx} {hz}", "ellipsoid": f"{hx} {hy} {hz}",
                    "capsule": f"{hy} {hx - hy}"}[body]
            extra = ' euler="0 90 0"' if body == "capsule" else ""
            geoms.append(f'<geom name="body{c}" type="{body}" size="{size}"{extra} rgba=".5 .5 .5 0"/>')
        # ribs: every body carries 8 radial fins between the ring directions (the same for all its fine classes),
        # so a part in the slot facing view v is hidden from the neighbouring views
        for c in range(self.n_coarse):
            hz = _BODY_HALF[_BODIES[c]][2]
            for k in range(N_VIEWS):
                phi = np.deg2rad(45.0 * k + 22.5)
                r = _body_radius(_BODIES[c], phi) + RIB[0] * 0.5
                geoms.append(f'<geom name="rib{c}_{k}" type="box" size="{RIB[0]} {RIB[1]} {hz * RIB[2]}" '
                             f'pos="{r * np.cos(phi):.5f} {r * np.sin(phi):.5f} 0" euler="0 0 {np.rad2deg(phi):.4f}" '
                             f'rgba=".5 .5 .5 0"/>')
        for y in range(self.n_classes):
            part = _PARTS[(y % self.n_fine) % len(_PARTS)]
            size = " ".join(str(s) for s in _PART_SIZE[part] if s)
            geoms.append(f'<geom name="part{y}" type="{part}" size="{size}" rgba="0 0 0 0"/>')
        px = self.image_size
        xml = f"""<mujoco><visual><global offwidth="{px}" offheight="{px}"/><quality shadowsize="0" offsamples="0"/>
<headlight ambient=".45 .45 .45" diffuse=".55 .55 .55" specular="0 0 0"/></visual>
<worldbody><light pos="0 0 3" dir="0 0 -1" diffuse=".3 .3 .3" castshadow="false"/>
<body name="object">{''.join(geoms)}</body></worldbody></mujoco>"""
        model = mujoco.MjModel.from_xml_string(xml)  # geoms in a body: mj_forward places them (world geoms stay put)
        model.geom_sameframe[:] = 0  # compiled at the body's origin, they would otherwise ignore geom_pos / geom_quat
        data = mujoco.MjData(model)
        renderer = _Offscreen(mujoco, model, px)
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = 0.0
        cam.distance = 1.25
        cam.elevation = ELEVATION
        self._base_size = model.geom_size[: self.n_coarse].copy()
        self._renderer = (mujoco, model, data, renderer, cam)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer[3].close()
            self._renderer = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_renderer"] = None  # a GL context does not cross processes; rebuilt on first use
        return state

    def render_object(self, label: int, obj: np.ndarray, with_part: bool = True) -> np.ndarray:
        """The 8 views ``(8, px, px, 3)`` uint8 of one object (``obj`` = the body colour r, g, b)."""
        if self._renderer is None:
            self._build()
        mujoco, model, data, renderer, cam = self._renderer
        c = label // self.n_fine
        model.geom_rgba[:, 3] = 0.0
        body = _BODIES[c]
        model.geom_rgba[c] = [*obj[:3], 1.0]
        ribs = self.n_coarse + N_VIEWS * c
        model.geom_rgba[ribs:ribs + N_VIEWS] = [*obj[:3], 1.0]
        if with_part:
            g = self.n_coarse + N_VIEWS * self.n_coarse + label
            angle = self.part_angle[label]
            r = _body_radius(body, angle) - INSET * _PART_SIZE[_PARTS[(label % self.n_fine) % len(_PARTS)]][0]
            model.geom_pos[g] = [r * np.cos(angle), r * np.sin(angle), self.part_height[label]]
            model.geom_quat[g] = [np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)]
            model.geom_rgba[g] = _PART_RGBA[(label % self.n_fine) % len(_PARTS)]
        mujoco.mj_forward(model, data)
        out = np.empty((N_VIEWS, self.image_size, self.image_size, 3), dtype=np.uint8)
        for v in range(N_VIEWS):
            cam.azimuth = 45.0 * v + 180.0  # the camera of view v sits in ring direction v, looking at the centre
            out[v] = renderer.render(data, cam)
        return out

    def _measure_views(self) -> tuple[np.ndarray, np.ndarray]:
        """``key_views[y, v]`` (the part of ``y`` shows in view ``v``) and ``same_view[y, y', v]`` (``y`` and ``y'``
        look identical from ``v``), from renderings of every class with one body colour."""
        grey = np.array([0.5, 0.5, 0.5])
        images = np.stack([self.render_object(y, grey) for y in range(self.n_classes)]).reshape(
            self.n_classes, N_VIEWS, -1)
        keys = np.zeros((self.n_classes, N_VIEWS), dtype=bool)
        for y in range(self.n_classes):
            keys[y] = np.any(images[y] != self.render_object(y, grey, with_part=False).reshape(N_VIEWS, -1), axis=1)
        same = np.all(images[:, None] == images[None, :], axis=-1)  # (Y, Y, V)
        return keys, same

    # -- sampling and observing
    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` objects: fine labels (uniform) and body colours ``(n, 3)`` (r, g in [0.15, 0.7], b in [0.4, 0.9]:
        bluish, so the yellow, red, green and magenta parts always differ from the body)."""
        labels = rng.integers(self.n_classes, size=n)
        colour = rng.uniform(0.15, 0.7, size=(n, 3))
        colour[:, 2] = rng.uniform(0.4, 0.9, size=n)
        return labels.astype(np.int64), colour

    def observe(self, labels: np.ndarray, objects: np.ndarray, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
        """Images of all 8 views ``(n, 8, px, px, 3)`` uint8, rendered once and cached under ``cache_dir`` (a file
        named by a hash of the world and the objects) when given."""
        labels, objects = np.asarray(labels), np.asarray(objects, dtype=np.float64)
        path = None
        if cache_dir is not None:
            geometry = dict(version=GEOMETRY_VERSION, inset=INSET, rib=RIB, elevation=ELEVATION, bodies=_BODY_HALF,
                            parts=_PART_SIZE)
            key = hashlib.sha256(json.dumps([self.settings, geometry], sort_keys=True).encode() + labels.tobytes()
                                 + objects.tobytes()).hexdigest()[:24]
            path = Path(cache_dir) / f"multiview-pixels-{key}.npy"
            if path.exists():
                return np.load(path)
        images = np.stack([self.render_object(int(y), o) for y, o in zip(labels, objects)]) if len(labels) else \
            np.zeros((0, N_VIEWS, self.image_size, self.image_size, 3), np.uint8)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, images)
            os.replace(tmp, path)
        return images

    # -- the ideal observer
    def consistent(self, labels: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` bool: the classes a perfect reader cannot rule out after the ``seen`` views."""
        labels, seen = np.asarray(labels), np.asarray(seen, dtype=bool)
        same = self.same_view[labels]  # (n, Y, V)
        return np.all(same | ~seen[:, None, :], axis=-1)

    def posterior(self, labels: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """The ideal observer's posterior ``(n, n_classes)``: uniform over :meth:`consistent`. What a view shows is
        fixed by the class, so the labels play the part of the features mode's codes."""
        c = self.consistent(labels, seen).astype(np.float64)
        return c / c.sum(-1, keepdims=True)

    def information_gain(self, posterior: np.ndarray) -> np.ndarray:
        """Exact expected information gain of each view ``(n, 8)``: the observation is a deterministic function of
        the class (which classes look alike from ``v``: the cells of ``same_view[:, :, v]``), so
        ``I(Y; O_v) = H(O_v)``, the entropy of the posterior mass of each cell."""
        p = np.asarray(posterior, dtype=np.float64)
        gain = np.zeros((len(p), N_VIEWS))
        for v in range(N_VIEWS):
            cell = self.same_view[:, :, v].argmax(1)  # the first class that looks like y from v
            mass = np.zeros((len(p), self.n_classes))
            np.add.at(mass.T, cell, p.T)
            gain[:, v] = -np.sum(np.where(mass > 0, mass * np.log(np.where(mass > 0, mass, 1.0)), 0.0), axis=1)
        return gain

    def subset_accuracies(self, labels: np.ndarray, objects: np.ndarray | None = None) -> np.ndarray:
        """Ideal-observer accuracy (ties count 1/k) of each of the ``2^8`` view subsets (bit ``v`` = view ``v``)."""
        labels = np.asarray(labels)
        rows = np.arange(len(labels))
        acc = np.empty(2**N_VIEWS)
        for s in range(2**N_VIEWS):
            seen = np.array([(s >> v) & 1 for v in range(N_VIEWS)], dtype=bool)[None].repeat(len(labels), 0)
            acc[s] = float(self.posterior(labels, seen)[rows, labels].mean())
        return acc

    def accuracy_along(self, labels: np.ndarray, objects: np.ndarray, orders: np.ndarray) -> np.ndarray:
        """Ideal-observer accuracy (a tie among k consistent classes counts 1/k) after t = 1..len views."""
        labels, orders = np.asarray(labels), np.asarray(orders)
        n = len(labels)
        seen = np.zeros((n, N_VIEWS), dtype=bool)
        out = []
        for t in range(orders.shape[1]):
            seen[np.arange(n), orders[:, t]] = True
            out.append(self.posterior(labels, seen)[np.arange(n), labels].mean())
        return np.array(out)
