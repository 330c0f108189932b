"""Lambda function notifier: entry point functions.notifier.handler.handler."""
