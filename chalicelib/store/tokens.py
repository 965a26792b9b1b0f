"""The tokens table: one item per API token (only the SHA-256 of its secret, see services/tokens.py).
Reads return `domain.records.Token` records."""
from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.records import Token
from chalicelib.store import records
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


def all_tokens() -> list[Token]:
    return sorted((records.token(item) for item in TokenModel.scan()), key=lambda t: (t.created_at, t.token_id))


def delete_token(token_id: str) -> None:
    TokenModel(token_id=token_id).delete()
