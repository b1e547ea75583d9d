"""Offline evaluation harness (DESIGN.md §7, issue 3): every policy on the same windows,
seeds and service, batched (:mod:`.runner`); metrics as pure functions (:mod:`.metrics`); the
HPA frontier and the scores read against it and the oracle (:mod:`.frontier`,
:mod:`.scoring`); report.json/report.md/plots written atomically (:mod:`.report`); the whole
``rlscale evaluate`` job (:mod:`.harness`); seed 000's published table (:mod:`.reproduce`).

Submodules are imported on use, so importing the package stays cheap.
"""
