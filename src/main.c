/* kafkatap: Kafka-protocol-aware TCP proxy and traffic inspector. */
#include "config.h"
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_run(argc, argv);
}
