"""Activity errors classified once for every activity: a database write that PostgreSQL
refuses for good (a data error) fails at once, non-retryable, instead of retrying for hours;
the workflow then asks for support (workflows/common.py `store`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.db import unfixable_data_error
from models.errors import UNSTORABLE


class _UnfixableDataIsFinal(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except DBAPIError as err:
            reason = unfixable_data_error(err)
            if reason is None:
                raise  # transient (connection lost, serialization failure…): retried
            name = activity.info().activity_type
            activity.logger.error("%s: the database refused the write for good: %s", name, reason)
            # The message names the kind of problem only: the refused value may be personal.
            raise ApplicationError(
                f"{name}: {reason}", type=UNSTORABLE, non_retryable=True
            ) from None


class DataErrorsAreFinal(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _UnfixableDataIsFinal(next)
