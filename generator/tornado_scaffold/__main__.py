from tornado_scaffold.cli import main

main()
