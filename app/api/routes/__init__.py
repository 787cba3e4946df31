"""One router per resource: health, predict, models, sessions, train, datasets, operations
(metrics) and v2 (the Open Inference Protocol). Routes read requests and call the services;
they hold no logic of their own."""
