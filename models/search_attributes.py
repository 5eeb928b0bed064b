"""Custom search attributes: how support finds a workflow by business id in the Temporal UI.

Registered on the dev server by ``make dev`` (``--search-attribute``) and on a real cluster by
``ops register-search-attributes``. Example UI query: ``ContractId = "…" `` or
``NeedsSupport = true AND WorkflowType = "Contract"``.
"""

from temporalio.common import SearchAttributeKey

JOB_ID = SearchAttributeKey.for_keyword("JobId")
CONTRACT_ID = SearchAttributeKey.for_keyword("ContractId")
CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")
WORKER_ID = SearchAttributeKey.for_keyword("WorkerId")
STAGE = SearchAttributeKey.for_keyword("Stage")
AMOUNT_CENTS = SearchAttributeKey.for_int("AmountCents")
NEEDS_SUPPORT = SearchAttributeKey.for_bool("NeedsSupport")

ALL = (JOB_ID, CONTRACT_ID, CLIENT_ID, WORKER_ID, STAGE, AMOUNT_CENTS, NEEDS_SUPPORT)
