from recsys_cli.cli.main import main

main()
