import os
from typing import Dict, Union

from leadscore._leadscore import (
    Diagnostic as Diagnostic,
    LeadError as LeadError,
    RulesError as RulesError,
    Scorer as Scorer,
    __version__ as __version__,
    check as check,
)

def rule_sources(rules_dir: Union[str, "os.PathLike[str]"]) -> Dict[str, str]: ...
