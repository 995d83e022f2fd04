"""External files: the MediaPipe model and the sample clips, each pinned by URL and SHA-256.

``fetch(key)`` returns a verified local path: from the cache (``weights/mediapipe/``
for models, ``data/samples/`` for clips), else copied from an offline mirror
(``$SWAPLAB_MIRROR``, or a ``shared/`` folder beside the checkout), else
downloaded with a progress bar. A cached file whose checksum no longer matches
is fetched again. With no network and no mirror the error says what to download,
from where, and where to put it. Every sample keeps its licence and attribution,
so a notebook that uses one can credit it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from swaplab.core import paths
from swaplab.core.files import atomic_path
from swaplab.core.paths import repo_root

_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
_HAIR_URL = (
    "https://raw.githubusercontent.com/google-ai-edge/mediapipe/63e679d99ca45b30514a9d84c9351a2d77bb9ba0/"
    "mediapipe/models/hair_segmentation.tflite"
)
_S1_URL = (
    "https://raw.githubusercontent.com/osalinasv/lipnet/84367bd1183381e2cfc3c9157156998bb6db3f71/"
    "preprocessing/detect-face-parts/pruebas/videos/s1/{name}"
)
_S2_URL = "https://raw.githubusercontent.com/rizkiarm/LipNet/bec592aa1e66378bc7ab33f6110f1c8a431b3b9a/evaluation/samples/{name}"
_HEADPOSE_URL = (
    "https://raw.githubusercontent.com/intel-iot-devkit/sample-videos/57978890822836f2b4743852f04f62fc511757e4/preview/{name}"
)

_GRID_CREDIT = (
    "GRID audiovisual corpus (Cooke, Barker, Cunningham & Shao, J. Acoust. Soc. Am. 120(5), 2006), CC BY 4.0"
)
_INTEL_CREDIT = "Intel IoT DevKit sample-videos (head-pose-face-detection), CC BY 4.0"

# key (path under the mirror) -> SHA-256; the same list as shared/SHA256SUMS.
_SHA256 = {
    "models/face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "models/hair_segmentation.tflite": "d2c940c4fd80edeaf38f5d7387d1b4235ee320ed120080df67c663e749e77633",
    "samples/grid/s1/bbaf2n.mpg": "e468120039e208b5ff9b9e269f8dc96bbddc45701f8dddcf2c0ae21abc0df546",
    "samples/grid/s1/bbaf5a.mpg": "58cc1205ebb642cf2f7805800928f479547cb11db804aad2d8f7129e261c0c87",
    "samples/grid/s1/bbir8p.mpg": "b9955525357aee521751695457c759ce0135ac13b62213bd20eaf3601bf02977",
    "samples/grid/s1/bbwm4n.mpg": "7d54402234ebb75420ec62c179eb958bdf8eb2b88bda2b3985835ca7d28c6627",
    "samples/grid/s1/bgbbzn.mpg": "997bfba9e38753b668553efcec0ef1ae5e7b56c52f8a9c13766e8e29f966e60d",
    "samples/grid/s1/bgin3a.mpg": "c71e5c009165c10a9b45693d268ff57c3fc535870a8e4e4aaabc9de0ac0963b6",
    "samples/grid/s1/bgwo2n.mpg": "abcfee5f6b557333d9dc9129a41ac384ae953929d06b56a03aa05b1b57bddbc5",
    "samples/grid/s1/brif6p.mpg": "8a8616ed0f84ab4ed9b23ac528b8fd11be34ce3df8bed44b3f8ea76cf3dc228a",
    "samples/grid/s1/brif7a.mpg": "eca0c55c6a4ab957ee917d69593c5ac43095d5583ec9b695a28fe8c01b60ba46",
    "samples/grid/s1/bwam8n.mpg": "2dd00f06b7c94b09217b5e8c5630d16fabe04b9c9281e66bda60e0f402d3d118",
    "samples/grid/s1/bwbg8n.mpg": "a081cd2627ff4cac32be1d03d33fb5fdb988682890fc8fbb8a724fba0e724e44",
    "samples/grid/s1/bwwa9s.mpg": "9362a1794a27b9cf1b3eebb999b7bcb2deba2c50c022b31456c8eea16f02ee44",
    "samples/grid/s1/lbaq6p.mpg": "9734b649234de2946b9feefba9066c0617ecb5bea4d143ce223de5aef71be373",
    "samples/grid/s1/lbbk6p.mpg": "a24a531a257ca4cdf8096d3aeaaf10794d681ec4f642236d352af8ad5e975d21",
    "samples/grid/s1/lbwr5a.mpg": "91943221bf7f90a0f7c1465ea8ae508dc687ffebf563747bd07624b12a106edd",
    "samples/grid/s1/lbwy6n.mpg": "75558f11d5153f04607baf534a379959e94f3bf154b88a9420f6c5c58a57c6c3",
    "samples/grid/s1/lgil4n.mpg": "808c3424c47969c2fd39027139eb16c05c6f136658e3e62aa49ca9c3ab591a0f",
    "samples/grid/s1/lgwg2n.mpg": "1222d3362b5e33e24de0e02c96ef2795187947b14afad1661061083700bcf7ca",
    "samples/grid/s1/lrarzn.mpg": "bea560ba4b8617ea9a94a6894c15652c7e5accb3773a54662d48a290e9102c10",
    "samples/grid/s1/lrik4p.mpg": "161bdd49251e33b9d8dd6f8c15d5e10468c19b397bd9e780590d80e5bfa71836",
    "samples/grid/s1/lrwf1s.mpg": "04fce83d6894264ec1f875d26446d765b4e479ce81eedeaf99382975eb1c6e2b",
    "samples/grid/s1/lwbl7s.mpg": "5ae7744bd2f62a4227d39a1b7bd5843471241f22de8b2565ca3dde49fddd1858",
    "samples/grid/s1/lwbs1s.mpg": "9b36c8983a0f62b6d730049e57e0c587b6ab9b115a1c04807cfe67f718f395e9",
    "samples/grid/s1/lwws6p.mpg": "9beb151bf9e75f7b1c2d7df4253782002ebda1d379f766f9575b9a7629cc01aa",
    "samples/grid/s1/pbib7s.mpg": "d53cc0a41099b47b933db98e4b07d7ed2607277670cc1326abd3ef284795f2ad",
    "samples/grid/s1/pgak4p.mpg": "5d6003f0668408b1ac3eadd7c878430dd7311f52b0bb4ecba67df9cea35f7d9f",
    "samples/grid/s1/pgiq5a.mpg": "1b00d81db3d5b2dbd5d716c5e84bc6f99716c760f16d1f9ced137cc58b7d99bc",
    "samples/grid/s1/prbd1s.mpg": "d98e9d38b2505ddb55c7f809c9c79040656fed164b16b10a99ba170e92478df7",
    "samples/grid/s1/prwj9s.mpg": "c186a23ee5ee1a13cff4a84ca63817c59c85aab718f7269667b64f9f79ce3154",
    "samples/grid/s1/pwbq6p.mpg": "c4ee391abf5c8e2ba4b1b9102e430daa6370678d7116f9be4f2c9f05b1329155",
    "samples/grid/s2/id2_vcd_swwp2s.mpg": "3bb8cffd51399caaf0c97abcd32bcab3493b2878ffda73bd648490ea47c75cc0",
    "samples/grid/s2/pwij3p.mpg": "a610d98c101dde3587cc66d70cb569d3b1d0111cfad90bd0037e47e21316beda",
    "samples/headpose/head-pose-face-detection-female-and-male.gif": "f51c743e43848014811ad5f3daddc417754cdeb55a16d46002e0d2ccd4541b0f",
    "samples/headpose/head-pose-face-detection-female.gif": "67646830ba9551b958f8a6ed4c83c32f5232e444bfba0f4c94386ee076b5d722",
    "samples/headpose/head-pose-face-detection-male.gif": "0484de9f8f4eac5ada77313629a6cd258da4d065ade887a0633029b7ccb0ff89",
}


@dataclass(frozen=True)
class Asset:
    key: str  # path under the mirror, e.g. "samples/grid/s1/bbaf2n.mpg"
    url: str  # public upstream URL
    sha256: str
    licence: str
    credit: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def _url_and_credit(key: str) -> tuple[str, str, str]:
    name = key.rsplit("/", 1)[-1]
    if key == "models/hair_segmentation.tflite":
        return _HAIR_URL, "Apache-2.0", "Google MediaPipe hair segmentation"
    if key.startswith("models/"):
        return _MODEL_URL, "Apache-2.0", "Google MediaPipe Face Landmarker (float16 v1)"
    if key.startswith("samples/grid/s1/"):
        return _S1_URL.format(name=name), "CC BY 4.0", _GRID_CREDIT + ", speaker s1"
    if key.startswith("samples/grid/s2/"):
        path = ("GRID/" if name == "pwij3p.mpg" else "") + name
        return _S2_URL.format(name=path), "CC BY 4.0", _GRID_CREDIT + ", speaker s2"
    if key.startswith("samples/headpose/"):
        return _HEADPOSE_URL.format(name=name), "CC BY 4.0", _INTEL_CREDIT
    raise KeyError(key)


def _asset(key: str, sha256: str) -> Asset:
    url, licence, credit = _url_and_credit(key)
    return Asset(key, url, sha256, licence, credit)


MANIFEST: dict[str, Asset] = {k: _asset(k, h) for k, h in _SHA256.items()}

FACE_LANDMARKER = "models/face_landmarker.task"


class AssetError(RuntimeError):
    """An asset could not be found, downloaded or verified."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_path(key: str, data_dir: str | Path | None = None, weights_dir: str | Path | None = None) -> Path:
    """Where ``key`` is cached: models under ``weights/mediapipe/``, samples under ``data/``."""
    asset = _get(key)
    if asset.key.startswith("models/"):
        return Path(weights_dir or repo_root() / "weights") / "mediapipe" / asset.name
    return Path(data_dir or repo_root() / "data") / asset.key


def mirror_dir() -> Path | None:
    """``$SWAPLAB_MIRROR`` if set, else a ``shared/`` folder beside the checkout that holds SHA256SUMS."""
    env = os.environ.get("SWAPLAB_MIRROR")
    if env:
        return Path(env).expanduser().resolve()
    beside = repo_root().parent / "shared"
    return beside if (beside / "SHA256SUMS").exists() else None


def keys(prefix: str = "") -> list[str]:
    """Manifest keys under ``prefix``, sorted (``keys("samples/grid/s1/")`` lists speaker s1's clips)."""
    return sorted(k for k in MANIFEST if k.startswith(prefix))


def fetch(
    key: str,
    data_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Return a verified local copy of ``key``: cache, else mirror, else download."""
    asset = _get(key)
    dest = cache_path(key, data_dir, weights_dir)
    if dest.exists():
        if sha256_of(dest) == asset.sha256:
            return dest
        dest.unlink()  # corrupt or stale: fetch again
    mirror = mirror_dir()
    if mirror is not None and (mirror / asset.key).exists():
        with atomic_path(dest) as tmp:
            shutil.copyfile(mirror / asset.key, tmp)
            _verify(tmp, asset, f"mirror file {mirror / asset.key}")
        return dest
    try:
        with atomic_path(dest) as tmp:
            _download(asset.url, tmp, asset.name, progress=progress, timeout=timeout)
            _verify(tmp, asset, asset.url)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise AssetError(
            f"could not download {asset.key} ({e}): download {asset.url} by hand and put it at {dest}, "
            f"or set SWAPLAB_MIRROR to a folder holding {asset.key}"
        ) from None
    return dest


def credits(paths_or_keys) -> list[str]:
    """Distinct attribution lines for the assets among ``paths_or_keys`` (paths ending in a manifest key; others are ignored)."""
    out: list[str] = []
    for p in paths_or_keys:
        p = str(p).replace(os.sep, "/")
        for key, asset in MANIFEST.items():
            if p.endswith(key):
                if asset.credit not in out:
                    out.append(asset.credit)
                break
    return out


def _get(key: str) -> Asset:
    try:
        return MANIFEST[key]
    except KeyError:
        raise AssetError(f"unknown asset {key!r}; see swaplab.core.assets.keys() for the list") from None


def _verify(path: Path, asset: Asset, origin: str) -> None:
    got = sha256_of(path)
    if got != asset.sha256:
        raise AssetError(f"{origin} has SHA-256 {got[:12]}..., expected {asset.sha256[:12]}...: the file is corrupt or another version; delete it and fetch again")


def _download(url: str, dest: Path, label: str, progress: bool, timeout: float) -> None:
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "swaplab"})
    with urllib.request.urlopen(req, timeout=timeout) as r, open(dest, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            for chunk in iter(lambda: r.read(1 << 16), b""):
                f.write(chunk)
                bar.update(len(chunk))


def resolve_media(value: str, data_dir: str | Path, project: str, what: str = "INPUT") -> Path:
    """A video named by a notebook parameter, as a path: an existing file or folder, a sample asset key
    (fetched), or the name of a source collected for ``project``. ``what`` names the parameter in errors."""
    path = Path(value)
    if path.exists():
        return path
    if value in keys():
        return fetch(value, data_dir=data_dir, progress=False)
    project_dir = paths.project_dir(data_dir, project)
    collected = sorted(p for p in project_dir.glob("*/sources/*") if value in (p.name, p.stem))
    if collected:
        return collected[0]
    raise FileNotFoundError(f"{what}={value!r} is neither a file, a sample (e.g. 'samples/grid/s1/bbaf2n.mpg') "
                            f"nor a source in {project_dir}/*/sources/: check the name or run 01_collect")
