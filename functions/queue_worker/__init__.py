"""Lambda function queue_worker: entry point functions.queue_worker.handler.handler."""
