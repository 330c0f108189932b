"""Lambda function ride_writer: entry point functions.ride_writer.handler.handler."""
