"""One module per `saliency` subcommand: `add_arguments(parser)` and `run(args)`."""
