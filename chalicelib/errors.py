"""Domain exceptions. The API edge (chalicelib/api/responses.py) maps them to HTTP.

Every error names the offending field, so a client can tell what to fix.
"""


class ActivelabelError(Exception):
    """Base class; `status` is the HTTP status the API answers with."""

    status = 400
    code = "BadRequestError"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict:
        body = {"Code": self.code, "Message": self.message}
        if self.field:
            body["Field"] = self.field
        return body


class ValidationError(ActivelabelError):
    """Bad input: 400, nothing written. `field` is a dotted path such as `tasks[3].data.text`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message, field)


class LabelConfigError(ValidationError):
    def __init__(self, message: str, field: str = "label_config"):
        super().__init__(field, message)


class PayloadTooLargeError(ActivelabelError):
    """The request body is over the size limit: 413, refused before it is parsed."""

    status = 413
    code = "PayloadTooLargeError"


class ImportIncompleteError(ActivelabelError):
    """A task import failed part-way through writing. `stored_task_ids` lists what may remain
    (empty when the partial write was rolled back)."""

    status = 503
    code = "ImportIncompleteError"

    def __init__(self, message: str, stored_task_ids: list[str]):
        super().__init__(message, "body")
        self.stored_task_ids = stored_task_ids

    def to_body(self) -> dict:
        return {**super().to_body(), "stored_task_ids": self.stored_task_ids}


class IdempotencyKeyError(ActivelabelError):
    """An `Idempotency-Key` that is malformed, or was sent before with another body: 422."""

    status = 422
    code = "IdempotencyKeyError"

    def __init__(self, message: str):
        super().__init__(f"Idempotency-Key: {message}", "Idempotency-Key")


class UnauthorizedError(ActivelabelError):
    status = 401
    code = "UnauthorizedError"


class ForbiddenError(ActivelabelError):
    status = 403
    code = "ForbiddenError"


class NotFoundError(ActivelabelError):
    status = 404
    code = "NotFoundError"


class ConflictError(ActivelabelError):
    """The request is valid but the project's state does not allow it (no model yet, thresholds not met)."""

    status = 409
    code = "ConflictError"


class TrainingDataError(ActivelabelError):
    """Training cannot succeed with the data at hand (e.g. a single class). Not retried."""

    status = 409
    code = "TrainingDataError"


class ArtifactIntegrityError(ActivelabelError):
    """A model artifact does not match its recorded digest, bucket or library version."""

    status = 500
    code = "ArtifactIntegrityError"


class BusyError(ActivelabelError):
    """Too much concurrent demand to answer within the request's bounded budget; retry."""

    status = 503
    code = "BusyError"
