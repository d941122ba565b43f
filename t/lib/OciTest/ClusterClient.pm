package OciTest::ClusterClient;

# What a flow's $redis->cmd means on the Redis Cluster the flows share
# (OCI_TEST_CLUSTER, scripts/test.sh): the same command, with the key
# names the registry has there, sent to the master of the key's slot.
# The flow's prefix "oci:" is its own there ("t<pid>:", as
# OciTest::Registry::registry_config sets it), and a key of no
# repository (no "{...}" after the prefix) is under "{_}:", the global
# slot.  KEYS asks every master.  Only what the flows use is known:
# commands whose first argument is their key, and KEYS.
#
#   my $redis = OciTest::Registry::registry_redis();   # this, or a Redis

use strict;
use warnings;

use OciTest::Redis;

sub new {
    my ($class, $seeds, $prefix) = @_;
    my @nodes = map { [ split /:/ ] } $seeds =~ /cluster=(\S+)/g;
    die "no cluster seeds in \"$seeds\"\n" unless @nodes;
    return bless { nodes => \@nodes, prefix => $prefix }, $class;
}

# the first seed: what a flow hands nginx, which the cluster's config
# ignores
sub port { $_[0]{nodes}[0][1] }

# the flow's key name as the registry has it on the cluster
sub key {
    my ($self, $k) = @_;
    $k =~ s/^oci:/$self->{prefix}/;
    $k =~ s/^([^:{*]*:)(?!\{)/$1\{_\}:/;
    return $k;
}

sub _slots {
    my ($self) = @_;
    for my $n (@{ $self->{nodes} }) {
        my $s = eval { OciTest::Redis::command($n->[1], qw(CLUSTER SLOTS)) };
        return $s if ref $s eq 'ARRAY' && @$s;
    }
    die "no cluster node answers CLUSTER SLOTS\n";
}

sub _masters { map { $_->[2][1] } @{ $_[0]->_slots } }

sub _port_of {
    my ($self, $key) = @_;
    my $slot = OciTest::Redis::command($self->{nodes}[0][1],
                                       'CLUSTER', 'KEYSLOT', $key);
    for my $r (@{ $self->_slots }) {
        return $r->[2][1] if $slot >= $r->[0] && $slot <= $r->[1];
    }
    die "slot $slot of \"$key\" is nobody's\n";
}

sub cmd {
    my ($self, $name, @args) = @_;
    if (uc $name eq 'KEYS') {
        my $pattern = $self->key($args[0]);
        my %seen;
        return [ grep { !$seen{$_}++ }
                 map { @{ OciTest::Redis::command($_, 'KEYS', $pattern) } }
                 $self->_masters ];
    }
    die "OciTest::ClusterClient: $name without a key\n" unless @args;
    # every key of a command (DEL a b) shares the first one's slot
    my @keyed = ($self->key($args[0]), @args[1 .. $#args]);
    if (uc $name eq 'DEL' || uc $name eq 'EXISTS') {
        @keyed = map { $self->key($_) } @args;
    }
    return OciTest::Redis::command($self->_port_of($keyed[0]), $name, @keyed);
}

1;
