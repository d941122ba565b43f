package OciTest::Blocks;

# What every t/*.t block shares, for add_block_preprocessor:
#
#   add_block_preprocessor(sub {
#       my $block = shift;
#       OciTest::Blocks::storage($block);
#       ...
#   });
#
# The module's default storage is "oci_registry" under nginx's prefix,
# the servroot.  The real Test::Nginx removes the servroot before each
# start and bails out when something it does not know is left there, so
# blob storage goes beside it, as <servroot>-storage (both runners set
# TEST_NGINX_SERVER_ROOT).  It lives as long as the test Redis does:
# blocks of a file may read what earlier blocks pushed.

use strict;
use warnings;

sub storage {
    my ($block) = @_;
    my $http = $block->http_config // '';

    $block->set_value('http_config',
        "    oci_registry_storage \$TEST_NGINX_SERVER_ROOT-storage;\n$http");
}

1;
