"""lstm-serve's service: the packages below, each with what it owns and what it may import.
Imports point down this list, never up:

    main.py        create_app(settings) and the lifespan that builds the services
    cli/           the `lstm-serve` commands
    api/           HTTP: routers, dependencies, the error table, middleware, OpenAPI
    observability/ logs, metrics, the collector freeze
    serving/       the data plane: checked input -> pipeline -> batcher -> predictor; sessions
    training/      jobs: plan -> store -> runner -> worker process -> activation; data sets
    protocol/      wire formats: v1 and v2 schemas, decoders and encoders
    registry/      model versions on disk and in memory, hot swap
    core/          settings, the service's errors, the token, the database, the clock
    dashboard/     the web dashboard's static files (served by api/ under /ui)

The ML core is the `model` package beside this one; any package may import it."""
