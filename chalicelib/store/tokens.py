"""The tokens table: one item per API token (only the SHA-256 of its secret, see services/tokens.py).
Reads return `domain.records.Token` records."""
from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.records import Token
from chalicelib.store import records, warm
from chalicelib.store.dynamo import now
from chalicelib.store.models import TokenModel


def create_token(token_id: str, secret_sha256: str, name: str, role: str, projects, created_by: str) -> Token:
    item = TokenModel(token_id=token_id, secret_sha256=secret_sha256, name=name, role=role,
                      projects=projects, created_at=now(), created_by=created_by)
    item.save(condition=TokenModel.token_id.does_not_exist())
    return records.token(item)


def find_token(token_id: str) -> Token | None:
    """Strongly consistent: a revoked token stops working at once."""
    try:
        return records.token(TokenModel.get(token_id, consistent_read=True))
    except DoesNotExist:
        return None


def find_token_warm(token_id: str) -> Token | None:
    """`find_token`, read at most every warm.ttl_seconds() per container (store/warm.py): a token
    revoked elsewhere stops working here within that bound, one revoked here at once."""
    return warm.tokens.get(token_id, lambda: find_token(token_id), keep=lambda item: item is not None)


def all_tokens() -> list[Token]:
    return sorted((records.token(item) for item in TokenModel.scan()), key=lambda t: (t.created_at, t.token_id))


def delete_token(token_id: str) -> None:
    warm.tokens.discard(token_id)
    TokenModel(token_id=token_id).delete()
