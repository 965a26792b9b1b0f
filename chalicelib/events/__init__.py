"""Event edge: the completions stream, the train and rescore queues, the schedule. Each record is
parsed and handed to one use case (chalicelib/services).

app.py hands each batch to a `handle_*_batch` function here, which returns Lambda's partial
batch response so one bad record neither blocks nor replays the others.
"""
