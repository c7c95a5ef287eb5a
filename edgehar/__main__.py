from edgehar.cli import main

main()
