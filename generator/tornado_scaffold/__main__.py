from tornado_scaffold.entry import main

main()
