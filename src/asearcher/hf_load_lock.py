"""One Hugging Face model build at a time in this process.

While `from_pretrained` loads, transformers swaps torch's init functions and `PreTrainedModel.tie_weights`
for no-ops and afterwards puts back what it found. Two loads in threads at once can put the no-ops back
for good: every later model of the process is then built untied with uninitialised weights (seen in the
full test suite as 'tied' models whose lm_head was not embed_tokens). Every model load and build of ours
holds this lock.
"""

from __future__ import annotations

import threading

HF_LOAD_LOCK = threading.RLock()
