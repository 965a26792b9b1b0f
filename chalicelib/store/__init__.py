"""The only AWS-aware code besides chalicelib/events and chalicelib/local.

`models` holds the PynamoDB tables; `repository` the reads and writes the domain needs
(conditional updates, transactions); `artifacts` the S3 model store; `queue` the SQS train queue.
"""
