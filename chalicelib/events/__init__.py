"""Per-record logic for the event sources: the completions stream, the train queue, the schedule.

app.py hands each batch to a `handle_*_batch` function here, which returns Lambda's partial
batch response so one bad record neither blocks nor replays the others.
"""
