"""Export a trained linreg model to TorchScript, ONNX and torch.export, and prove each predicts alike.

Depends only on `linreg`. The Python API: every name in __all__ is importable from `export`
itself, loaded on first use (so `import export` stays light).
"""
from __future__ import annotations

from linreg.lazy import lazy_api

# public name -> "module:attribute"
_API = {
    "export_all": "export.exporters:export_all",            # checkpoint -> verified export folder
    "verify_export": "export.parity:verify_export",         # hashes + parity of every artifact
    "predict_export": "export.predict:predict_export",      # predictions of one runtime
    "read_manifest": "export.loaders:read_manifest",        # manifest.json, artifacts re-hashed
    "load_torchscript": "export.loaders:load_torchscript",
    "load_exported_program": "export.loaders:load_exported_program",
    "make_ort_session": "export.loaders:make_ort_session",  # provider checked, threads pinned
    "FORMATS": "export.manifest:FORMATS",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_api("export", _API, globals())
