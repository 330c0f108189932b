"""Lambda function compensation: entry point functions.compensation.handler.handler."""
