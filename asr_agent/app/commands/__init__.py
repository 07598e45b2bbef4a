"""Sub-commands of `asr-agent`: each module exposes `add_parser(subparsers)` and sets
`func` on its parser; heavy imports happen inside the function that runs."""
