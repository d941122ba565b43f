package OciTest::Cluster;

# A private Redis Cluster from Debian's redis-server and redis-cli:
# masters with replicas, made with "redis-cli --cluster create".
#
#   my $c = OciTest::Cluster->start(masters => 3, replicas => 1,
#                                   password => 'p');  # AUTH everywhere
#   (aof => 0: no append-only file; by default every write is fsync'ed)
#   $c->seeds;                    # "cluster=127.0.0.1:p ..." for nginx
#   $c->masters;                  # the OciTest::Redis of each master now
#   $c->node_of_key('oci:{r}:tags');   # the master serving that key's slot
#   $c->cli('--cluster', 'reshard', ...);   # redis-cli against the cluster
#   $c->ok;                       # every live node says cluster_state:ok

use strict;
use warnings;

use OciTest::Redis;
use Time::HiRes qw(sleep time);

sub cli_available {
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/redis-cli" if -x "$d/redis-cli";
    }
    return undef;
}

sub start {
    my ($class, %opt) = @_;
    my $masters = $opt{masters} // 3;
    my $replicas = $opt{replicas} // 1;
    my @nodes = map {
        OciTest::Redis->start(password => $opt{password}, args => [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', $opt{node_timeout} // 2000,
            # the bus port is the port + 10000 unless named: free ones
            # can be above 55535
            '--cluster-port', OciTest::Redis::_free_port(),
            ($opt{aof} // 1
             ? ('--appendonly', 'yes', '--appendfsync', 'always')
             : ('--appendonly', 'no', '--save', '')),
        ])
    } 1 .. $masters * (1 + $replicas);
    my $self = bless { nodes => \@nodes, password => $opt{password},
                       want => $masters }, $class;
    my $out = $self->cli('--cluster', 'create',
                         (map { '127.0.0.1:' . $_->port } @nodes),
                         '--cluster-replicas', $replicas, '--cluster-yes');
    die "redis-cli --cluster create failed:\n$out" if $?;
    $self->wait_ok(30) or die "the cluster did not come up\n";
    return $self;
}

sub nodes { @{ $_[0]{nodes} } }

# redis-cli with the arguments, against the first live node: its output
sub cli {
    my ($self, @args) = @_;
    my $bin = cli_available() or die "redis-cli not found\n";
    my ($any) = grep { $_->pid } $self->nodes;
    my @cmd = ($bin, '-h', '127.0.0.1', '-p', $any->port,
               (defined $self->{password}
                ? ('-a', $self->{password}, '--no-auth-warning') : ()),
               @args);
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or die "exec: $!";
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out // '';
}

sub seeds {
    my ($self) = @_;
    return join ' ', map { 'cluster=127.0.0.1:' . $_->port } $self->nodes;
}

sub _info {
    my ($node) = @_;
    my $info = eval { $node->cmd(qw(CLUSTER INFO)) } // '';
    return $info;
}

sub ok {
    my ($self) = @_;
    for my $n (grep { $_->pid } $self->nodes) {
        return 0 unless _info($n) =~ /cluster_state:ok/;
    }
    return 1;
}

# every live node says ok, as many masters as asked serve slots, and
# every live replica has synced with its master (WAIT counts only those)
sub wait_ok {
    my ($self, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if $self->ok && $self->masters == $self->{want}
                    && $self->_synced;
        sleep 0.1;
    }
    return 0;
}

sub _synced {
    my ($self) = @_;
    for my $n (grep { $_->pid } $self->nodes) {
        my $info = eval { $n->cmd('INFO', 'replication') } // '';
        return 0 if $info =~ /role:slave/ && $info !~ /master_link_status:up/;
    }
    return 1;
}

# the slot range a master serves first: [first, last]
sub range_of {
    my ($self, $node) = @_;
    my ($any) = grep { $_->pid } $self->nodes;
    my @r = sort { $a->[0] <=> $b->[0] }
            grep { $_->[2][1] == $node->port } @{ $any->cmd(qw(CLUSTER SLOTS)) };
    return @r ? ($r[0][0], $r[0][1]) : ();
}

sub slot_of {
    my ($self, $key) = @_;
    my ($any) = grep { $_->pid } $self->nodes;
    return $any->cmd('CLUSTER', 'KEYSLOT', $key);
}

# the live nodes that are masters with slots, by CLUSTER SLOTS of any
sub masters {
    my ($self) = @_;
    my ($any) = grep { $_->pid } $self->nodes;
    my $slots = eval { $any->cmd(qw(CLUSTER SLOTS)) } || [];
    my %port = map { $_->[2][1] => 1 } @$slots;
    return grep { $_->pid && $port{ $_->port } } $self->nodes;
}

sub node_of_key {
    my ($self, $key) = @_;
    my ($any) = grep { $_->pid } $self->nodes;
    my $slot = $any->cmd('CLUSTER', 'KEYSLOT', $key);
    for my $range (@{ $any->cmd(qw(CLUSTER SLOTS)) }) {
        next unless $slot >= $range->[0] && $slot <= $range->[1];
        my ($n) = grep { $_->port == $range->[2][1] } $self->nodes;
        return $n;
    }
    return undef;
}

# the node id of a node, for reshard's --cluster-from/--cluster-to
sub id_of {
    my ($self, $node) = @_;
    return $node->cmd(qw(CLUSTER MYID));
}

1;
