"""Server-side code that runs inside vLLM workers (`--worker-extension-cls
asearcher.engines.vllm_ext.WeightUpdateExtension`). Importing this package does not import vLLM."""

from asearcher.engines.vllm_ext.weight_update import WeightUpdateExtension

__all__ = ["WeightUpdateExtension"]
