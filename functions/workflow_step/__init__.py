"""Lambda function workflow_step: entry point functions.workflow_step.handler.handler."""
