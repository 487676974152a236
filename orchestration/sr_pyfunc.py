"""The pyfunc's import path in model versions registered before ``orchestration.serving`` existed.

Their models-from-code file (accepted by digest, ``serving.model_verification.LEGACY_MODEL_CODE_SHA256``)
runs ``from orchestration.sr_pyfunc import MMSRPyfunc``; this keeps those versions loadable.
"""

from orchestration.serving.sr_pyfunc import MMSRPyfunc

__all__ = ["MMSRPyfunc"]
