"""The privacy rules, as messages sees them: the one set in storage.privacy (storage must not
import messages, so the rules live there and are re-exported here for renderers and tests)."""
from storage.privacy import (DOB_MASK, NHS_MASK, mask, mask_posted,  # noqa: F401
                             mask_posted_field, ref_problem)
