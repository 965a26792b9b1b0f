"""HTTP edge: parse requests, call one use case (chalicelib/services), shape responses.

Route functions take the Chalice request and path parameters and return plain dicts or
chalice.Response; errors are raised as chalicelib.errors exceptions and turned into
`{"Code", "Message", "Field"}` bodies by `http.error_middleware`.
"""
