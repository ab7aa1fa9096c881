# kseed test OS, SSH variant: sourced by /init once the network is up, before
# the callback, so a node that called back already takes logins. It is the
# login Ansible and cephadm use after `kseed handoff`: the public keys of the
# NoCloud user-data (every ssh_authorized_keys list item) open root and each
# user the user-data names; dropbear serves port 22, SFTP through OpenSSH's
# sftp-server (/usr/lib/sftp-server), python3 is /usr/bin/python3.
ssh_ud=/run/kseed/user-data
mkdir -p /etc/dropbear /root /home /var/log /dev/pts
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null
# '*' opens no password login (dropbear refuses '!'-locked accounts outright)
echo 'root:*:0:0:root:/root:/bin/sh' > /etc/passwd
printf 'root:x:0:\ntty:x:5:\n' > /etc/group
echo /bin/sh > /etc/shells
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' > /etc/nsswitch.conf
printf 'NAME="kseed test OS"\nID=kseed-testos\nID_LIKE=debian\nPRETTY_NAME="kseed test OS (busybox, dropbear, python3)"\n' > /etc/os-release
echo "127.0.0.1 localhost $(hostname)" > /etc/hosts

# list items that are OpenSSH public keys, quoted or not; once each (a key may be listed
# top-level and under users)
ssh_keys=$(sed -nE "s/^[[:space:]]*-[[:space:]]*[\"']?((ssh-|ecdsa-|sk-)[^\"']*)[\"']?[[:space:]]*\$/\\1/p" "$ssh_ud" 2>/dev/null | awk '!seen[$0]++')
ssh_users="root $(sed -nE "s/^[[:space:]]*-?[[:space:]]*name:[[:space:]]*[\"']?([a-z_][a-z0-9_-]*)[\"']?[[:space:]]*\$/\\1/p" "$ssh_ud" 2>/dev/null | grep -vx root)"
ssh_uid=1000
for u in $ssh_users; do
  home=/root
  if [ "$u" != root ]; then
    home=/home/$u
    grep -q "^$u:" /etc/passwd || { echo "$u:*:$ssh_uid:$ssh_uid:$u:$home:/bin/sh" >> /etc/passwd; echo "$u:x:$ssh_uid:" >> /etc/group; }
    ssh_uid=$((ssh_uid + 1))
  fi
  mkdir -p "$home/.ssh"
  printf '%s\n' "$ssh_keys" | grep . > "$home/.ssh/authorized_keys"
  chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
  chown -R "$(awk -F: -v u="$u" '$1 == u { print $3 ":" $4 }' /etc/passwd)" "$home"
done
ssh_n=$(printf '%s\n' "$ssh_keys" | grep -c .)
log "ssh: $ssh_n authorized key(s) for:$(printf ' %s' $ssh_users)"

# ed25519 only: generating RSA host keys under TCG takes long, every client speaks ed25519
hk=/etc/dropbear/dropbear_ed25519_host_key
[ -s $hk ] || dropbearkey -t ed25519 -f $hk >/dev/null 2>&1
log "ssh host key: $(dropbearkey -y -f $hk 2>/dev/null | sed -n 's/^Fingerprint: //p')"
# -s: keys only; -F -E: in the foreground of this shell's child, log to a file
dropbear -F -E -s -r $hk -p 22 -P /run/dropbear.pid >>/var/log/dropbear.log 2>&1 &
log "ssh: dropbear listening on port 22 (pid $!)"
