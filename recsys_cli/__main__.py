from recsys_cli.cli.main import main

if __name__ == "__main__":  # Dask's spawned workers import this module without running the CLI
    main()
