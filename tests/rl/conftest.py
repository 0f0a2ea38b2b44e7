"""tests/rl mirrors src/asearcher/rl (algo, rollout, train, run, distributed). This conftest puts tests/rl on
sys.path (pytest's prepend import mode), so the shared fakes (train_fakes) import by name from every
sub-folder; distributed/ helpers sit next to their tests."""
