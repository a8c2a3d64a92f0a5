# bash completion for edgecore(1), the EdgeCore technicians' tool
# (installed as share/bash-completion/completions/edgecore).
#
# Subcommands and options come from the tool itself at completion time (`edgecore --help`,
# `edgecore SUB --help`: every --long option it names), so the completion follows the installed tool.
# Values: the choices a --help writes as a|b|c; serial devices for --rtu and sniff; GPIO chips for --chip
# and gpio; site files (*.yaml) for check, watch, read and write; journal folders; profile names for
# --profile (the folders EdgeCore searches: ./profiles, $EDGECORE_PROFILES, /usr/share/edgecore/profiles).

_edgecore_help() {
    # The --help text of `edgecore [SUB]`, cached per tool and subcommand for this shell.
    local tool=$1 sub=$2 key
    key="${tool}|${sub}"
    if [[ -z ${_edgecore_help_cache[$key]+set} ]]; then
        _edgecore_help_cache[$key]=$("$tool" ${sub:+"$sub"} --help 2>/dev/null)
    fi
    printf '%s\n' "${_edgecore_help_cache[$key]}"
}
declare -gA _edgecore_help_cache

_edgecore_serial_devices() {
    local d
    for d in /dev/ttyUSB* /dev/ttyACM* /dev/ttyAMA* /dev/ttyS* /dev/ttymxc* /dev/ttyO* /dev/ttyXRUSB* \
             /dev/ttyCH343USB* /dev/serial/by-id/* /dev/serial/by-path/* /dev/pts/[0-9]*; do
        [[ -e $d ]] && printf '%s\n' "$d"
    done
}

_edgecore_gpio_chips() {
    local d
    for d in /dev/gpiochip*; do [[ -e $d ]] && printf '%s\n' "$d" "${d#/dev/}"; done
}

_edgecore_profiles() {
    local dir f dirs=(profiles)
    local IFS=:
    dirs+=($EDGECORE_PROFILES)
    unset IFS
    dirs+=(/usr/share/edgecore/profiles /usr/local/share/edgecore/profiles)
    for dir in "${dirs[@]}"; do
        for f in "$dir"/*.yaml; do [[ -e $f ]] && f=${f##*/} && printf '%s\n' "${f%.yaml}"; done
    done
}

_edgecore_files() {
    # Site files (*.yaml, *.yml) and folders.
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -d -- "$cur"))
    COMPREPLY+=($(compgen -f -X '!*.yaml' -- "$cur"))
    COMPREPLY+=($(compgen -f -X '!*.yml' -- "$cur"))
}

_edgecore() {
    local cur prev tool sub i word
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    tool=${COMP_WORDS[0]}
    COMPREPLY=()
    local IFS=$'\n'

    # The subcommand: the first word after the command that is not an option.
    sub=
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        [[ $word == -* ]] && continue
        sub=$word
        break
    done
    if [[ -z $sub ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W $'--help\n--version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_edgecore_help "$tool" "" |
                sed -n '/^Subcommands:/,/^[^ ]/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')" -- "$cur"))
        fi
        return 0
    fi

    local help
    help=$(_edgecore_help "$tool" "$sub")

    # The value of the option before the cursor.
    if [[ $prev == --* ]]; then
        case $prev in
            --rtu | --device | --port-device) COMPREPLY=($(compgen -W "$(_edgecore_serial_devices)" -- "$cur")); return 0 ;;
            --chip) COMPREPLY=($(compgen -W "$(_edgecore_gpio_chips)" -- "$cur")); return 0 ;;
            --profile) COMPREPLY=($(compgen -W "$(_edgecore_profiles | sort -u)" -- "$cur")); return 0 ;;
            --site) _edgecore_files; return 0 ;;
            --pcap | --output | --checkpoint) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
            --journal | --dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
        esac
        # Choices the help writes as "--opt a|b|c".
        local choices
        choices=$(printf '%s\n' "$help" | grep -oE -- "(^|[][ ,(|])${prev}[ =][A-Za-z0-9._-]+(\|[A-Za-z0-9._-]+)+" |
                  head -n 1 | sed -E 's/^.*[ =]//' | tr '|' '\n')
        if [[ -n $choices ]]; then
            COMPREPLY=($(compgen -W "$choices" -- "$cur"))
            return 0
        fi
        # Any other option followed by an UPPERCASE placeholder takes a value: nothing to offer but files.
        if printf '%s\n' "$help" | grep -qE -- "(^|[][ ,(|])${prev}[ =][A-Z0-9]"; then
            compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
            return 0
        fi
    fi

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur"))
        return 0
    fi

    # Positional arguments.
    case $sub in
        check | watch | read | write) _edgecore_files ;;
        sniff) COMPREPLY=($(compgen -W "$(_edgecore_serial_devices)" -- "$cur")) ;;
        gpio)
            local action=
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                [[ ${COMP_WORDS[i]} != -* ]] && action=${COMP_WORDS[i]} && break
            done
            if [[ -z $action ]]; then
                COMPREPLY=($(compgen -W $'list\nget\nset\nmonitor\ncount' -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_edgecore_gpio_chips)" -- "$cur"))
            fi
            ;;
        journal)
            local action=
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                [[ ${COMP_WORDS[i]} != -* ]] && action=${COMP_WORDS[i]} && break
            done
            if [[ -z $action ]]; then
                COMPREPLY=($(compgen -W $'stats\ntail\ndump\ncheck' -- "$cur"))
            else
                compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
            fi
            ;;
        scan) ;;
        *) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
    return 0
}
complete -F _edgecore edgecore
